using System.Text;
using Akka.Actor;
using Akka.Hosting;
using Engine.Host;
using Engine.Integration.Tests.Support;
using Engine.Messages.Mailbox;
using Engine.Storage.Accounts;
using Microsoft.Extensions.DependencyInjection;

namespace Engine.Integration.Tests;

/// <summary>Local delivery end to end: SMTP in, the queue hands the message to the mailbox entities, Maildir out.</summary>
public sealed class DeliverySpecs
{
    private static string Maildir(string dataDir, string domain, string user) => Path.Combine(dataDir, "mail", domain, user);

    private static string Directory_(string dataDir)
    {
        var directory = Accounts.DirectoryOf(dataDir);
        directory.AddDomain("campus.test");
        directory.AddDomain("dept.test", catchAll: "office@dept.test");
        foreach (var user in new[] { "jane@campus.test", "bob@campus.test", "carol@campus.test", "office@dept.test" })
            directory.AddUser(user, "", "{LOCKED}", 0);
        directory.AddAlias("staff@campus.test", ["jane@campus.test", "bob@campus.test", "carol@campus.test"]);
        return dataDir;
    }

    private static async Task<string> SendAsync(int port, string to, string subject)
    {
        await using var smtp = await RawSmtp.GreetedAsync(port);
        Assert.Equal(250, (await smtp.CommandAsync("EHLO client.test")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<alice@client.test>")).Code);
        foreach (var rcpt in to.Split(','))
            Assert.Equal(250, (await smtp.CommandAsync($"RCPT TO:<{rcpt}>")).Code);
        Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
        var reply = await smtp.CommandAsync($"Subject: {subject}\r\n\r\nHello {to}\r\n.");
        Assert.Equal(250, reply.Code);
        return reply.Last.Split(' ')[^1];
    }

    [Fact]
    public async Task Mail_to_a_user_an_alias_and_a_catch_all_lands_in_maildir_once_and_leaves_the_queue()
    {
        var dataDir = Directory_(TempDir.Create("delivery"));
        await using var engine = await EngineInstance.StartInAsync(dataDir);

        var direct = await SendAsync(engine.Port, "jane@campus.test", "direct");
        var fanOut = await SendAsync(engine.Port, "staff@campus.test", "staff");
        var catchAll = await SendAsync(engine.Port, "whoever@dept.test", "catch-all");
        // One account reached twice in one message (directly and through the alias) gets one copy.
        var twice = await SendAsync(engine.Port, "bob@campus.test,staff@campus.test", "twice");

        Assert.Equal(3, (await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", 3)).Length);
        Assert.Equal(2, (await Accounts.WaitForNewAsync(dataDir, "bob@campus.test", 2)).Length);
        Assert.Equal(2, (await Accounts.WaitForNewAsync(dataDir, "carol@campus.test", 2)).Length);
        var office = await Accounts.WaitForNewAsync(dataDir, "office@dept.test", 1);
        Assert.Single(office);

        var text = await File.ReadAllTextAsync(office[0], TestContext.Current.CancellationToken);
        Assert.StartsWith("Return-Path: <alice@client.test>\r\nDelivered-To: whoever@dept.test\r\nReceived: from client.test", text);
        Assert.Contains($"id {catchAll}", text);
        Assert.EndsWith("Subject: catch-all\r\n\r\nHello whoever@dept.test\r\n", text);
        Assert.EndsWith($",S={new FileInfo(office[0]).Length}", office[0]);

        // Every message has left the queue and the spool.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await engine.QueueAsync()).Count > 0 && DateTime.UtcNow < deadline)
            await Task.Delay(50, TestContext.Current.CancellationToken);
        Assert.Empty(await engine.QueueAsync());
        // A body goes once its message's removal is on disk: with the next fsync of the journal, within a second.
        string[] Bodies() => Directory.GetFiles(Path.Combine(dataDir, "spool"), "*", SearchOption.AllDirectories);
        while (Bodies().Length > 0 && DateTime.UtcNow < deadline.AddSeconds(2))
            await Task.Delay(50, TestContext.Current.CancellationToken);
        Assert.Empty(Bodies());
        foreach (var id in new[] { direct, fanOut, catchAll, twice })
            await engine.Logs.WaitForAsync(l => l == $"{id}: removed");
        var delivered = await engine.Logs.WaitForAsync(l => l.StartsWith($"{fanOut}: to=<carol@campus.test>, orig_to=<staff@campus.test>, relay=local", StringComparison.Ordinal)
                                                            && l.Contains("status=sent", StringComparison.Ordinal));
        Assert.Equal(0, Maillog.AssertDelays(delivered).C); // no session to set up for a local delivery

        // The answer that completes a message is journaled as its removal alone. (Of the three answers for the alias, the
        // last may come before the first two are journaled and be taken for one that does not complete the message.)
        Assert.Equal(new Dictionary<string, int> { ["qe.queued"] = 1, ["qe.removed"] = 1 }, JournalRowsOf(dataDir, direct));
        Assert.Equal(new Dictionary<string, int> { ["qe.queued"] = 1, ["qe.removed"] = 1 }, JournalRowsOf(dataDir, catchAll));
        var alias = JournalRowsOf(dataDir, fanOut);
        Assert.Equal(1, alias["qe.removed"]);
        Assert.InRange(alias["qe.delivered"], 2, 3);
    }

    /// <summary>The queue's journal rows that name <paramref name="id"/>, counted by event.</summary>
    private static Dictionary<string, int> JournalRowsOf(string dataDir, string id)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dataDir, "engine.db")};Mode=ReadOnly");
        connection.Open();
        using var query = connection.CreateCommand();
        query.CommandText = "SELECT manifest, count(*) FROM journal WHERE manifest LIKE 'qe.%' AND instr(CAST(message AS TEXT), $id) > 0 GROUP BY manifest";
        query.Parameters.AddWithValue("$id", id);
        using var rows = query.ExecuteReader();
        var counts = new Dictionary<string, int>();
        while (rows.Read())
            counts[rows.GetString(0)] = rows.GetInt32(1);
        return counts;
    }

    [Fact]
    public async Task Mail_for_remote_recipients_stays_in_the_queue_while_local_ones_are_delivered()
    {
        var dataDir = Directory_(TempDir.Create("delivery-mixed"));
        await using var engine = await EngineInstance.StartInAsync(dataDir);
        var id = await SendAsync(engine.Port, "jane@campus.test,someone@elsewhere.example", "mixed");
        Assert.Single(await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", 1));
        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<jane@campus.test>", StringComparison.Ordinal));
        var queued = await engine.QueuedAsync(id);
        Assert.Equal(["jane@campus.test"], queued.DeliveredTo);
    }

    [Fact]
    public async Task A_delivery_asked_twice_is_made_once()
    {
        var dataDir = Directory_(TempDir.Create("delivery-dedupe"));
        await using var engine = await EngineInstance.StartInAsync(dataDir);
        var id = await SendAsync(engine.Port, "relay@elsewhere.example", "not local"); // stays queued: its body is ours to reuse
        var blob = (await engine.QueuedAsync(id)).BlobRef;
        var mailboxes = await engine.Services.GetRequiredService<IRequiredActor<MailboxRegionKey>>().GetAsync(TestContext.Current.CancellationToken);
        var deliver = new MailboxCommands.Deliver("carol@campus.test", $"{id}/carol@campus.test", blob, "alice@client.test", "carol@campus.test");

        var first = await mailboxes.Ask<MailboxReplies.Delivered>(deliver, TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        var second = await mailboxes.Ask<MailboxReplies.Delivered>(deliver, TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(first.Uid, second.Uid);
        Assert.Single(Directory.GetFiles(Path.Combine(Maildir(dataDir, "campus.test", "carol"), "new")));

        var other = await mailboxes.Ask<MailboxReplies.Delivered>(deliver with { Key = $"{id}/other" }, TimeSpan.FromSeconds(10),
            TestContext.Current.CancellationToken);
        Assert.Equal(first.Uid + 1, other.Uid);
        Assert.Equal(2, Directory.GetFiles(Path.Combine(Maildir(dataDir, "campus.test", "carol"), "new")).Length);
        Assert.Contains("Subject: not local", Encoding.ASCII.GetString(await File.ReadAllBytesAsync(
            Directory.GetFiles(Path.Combine(Maildir(dataDir, "campus.test", "carol"), "new"))[0], TestContext.Current.CancellationToken)));
    }

    [Fact]
    public async Task A_mailbox_over_quota_defers_with_4_2_2_and_bounces_with_5_2_2_when_tempfail_is_off()
    {
        var dataDir = Accounts.WithJane("quota");
        Accounts.DirectoryOf(dataDir).AddUser("small@campus.test", "", "{LOCKED}", 1000);

        async Task<string> SendFromJaneAsync(int port, string body)
        {
            await using var smtp = await RawSmtp.GreetedAsync(port);
            await smtp.CommandAsync("EHLO campus.test");
            Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<jane@campus.test>")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<small@campus.test>")).Code);
            Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
            var reply = await smtp.CommandAsync($"From: jane@campus.test\r\nSubject: size {body.Length}\r\n\r\n{body}\r\n.");
            Assert.Equal(250, reply.Code);
            return reply.Last.Split(' ')[^1];
        }

        string big;
        await using (var engine = await EngineInstance.StartInAsync(dataDir))
        {
            var fits = await SendFromJaneAsync(engine.Port, "short");
            await engine.Logs.WaitForAsync(l => l.StartsWith($"{fits}: to=<small@campus.test>", StringComparison.Ordinal) && l.Contains("status=sent", StringComparison.Ordinal));
            big = await SendFromJaneAsync(engine.Port, new string('x', 800)); // with the first one, over 1000 bytes
            await engine.Logs.WaitForAsync(l => l.StartsWith($"{big}: to=<small@campus.test>, relay=local, delay=", StringComparison.Ordinal) && l.Contains("dsn=4.2.2, status=deferred (Mailbox full: quota exceeded",
                StringComparison.Ordinal));
            var deadline = DateTime.UtcNow.AddSeconds(10);
            Engine.Messages.Queue.QueuedMessage queued;
            while ((queued = await engine.QueuedAsync(big)).State != Engine.Messages.Queue.QueueState.Deferred && DateTime.UtcNow < deadline)
                await Task.Delay(50, TestContext.Current.CancellationToken);
            Assert.StartsWith("452 4.2.2 Mailbox full", queued.DeferralOf["small@campus.test"].Reply, StringComparison.Ordinal);
        }
        Assert.Single(await Accounts.WaitForNewAsync(dataDir, "small@campus.test", 1));

        // Without tempfail the same delivery is bounced at once, and the sender gets the DSN.
        await using (var engine = await EngineInstance.StartInAsync(dataDir, "engine.mailbox.quota-full-tempfail = off"))
        {
            await engine.QueueCommandAsync(p => new Engine.Messages.Queue.QueueCommands.Flush(p));
            await engine.Logs.WaitForAsync(l => l.StartsWith($"{big}: to=<small@campus.test>, relay=local, delay=", StringComparison.Ordinal) && l.Contains("dsn=5.2.2, status=bounced", StringComparison.Ordinal));
            var dsn = MimeKit.MimeMessage.Load(Assert.Single(await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", 1)));
            var status = Assert.IsType<MimeKit.MultipartReport>(dsn.Body).OfType<MimeKit.MessageDeliveryStatus>().Single();
            Assert.Equal("5.2.2", status.StatusGroups[1]["Status"]);
            await engine.Logs.WaitForAsync(l => l == $"{big}: removed");
        }
        Assert.Single(Directory.GetFiles(Path.Combine(Maildir(dataDir, "campus.test", "small"), "new")));
    }

    [Fact]
    public async Task A_delivery_deferred_over_quota_is_bounced_when_the_message_expires()
    {
        var dataDir = Accounts.WithJane("quota-expiry");
        Accounts.DirectoryOf(dataDir).AddUser("full@campus.test", "", "{LOCKED}", 100); // no message fits
        await using var engine = await EngineInstance.StartInAsync(dataDir, "engine.queue.minimal-backoff = 1s", "engine.queue.maximal-backoff = 1s",
            "engine.queue.maximal-queue-lifetime = 3s");
        var id = await RawSmtp.SendMessageAsync(engine.Port, "jane@campus.test", $"From: jane@campus.test\r\nSubject: too big\r\n\r\n{new string('x', 500)}", "full@campus.test");
        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<full@campus.test>, relay=local, delay=", StringComparison.Ordinal)
                                            && l.Contains("dsn=4.2.2, status=deferred (Mailbox full", StringComparison.Ordinal));
        await engine.Logs.WaitForAsync(l => l == $"{id}: from=<jane@campus.test>, status=expired, returned to sender", TimeSpan.FromSeconds(20));
        // The DSN reaches the sender's Maildir with the last reason it was deferred for.
        var dsn = MimeKit.MimeMessage.Load(Assert.Single(await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", 1)));
        var status = Assert.IsType<MimeKit.MultipartReport>(dsn.Body).OfType<MimeKit.MessageDeliveryStatus>().Single();
        Assert.Equal("failed", status.StatusGroups[1]["Action"]);
        Assert.Contains("Mailbox full", status.StatusGroups[1]["Diagnostic-Code"], StringComparison.Ordinal);
        await engine.Logs.WaitForAsync(l => l == $"{id}: removed");
        var inbox = Path.Combine(Maildir(dataDir, "campus.test", "full"), "new");
        Assert.True(!Directory.Exists(inbox) || Directory.GetFiles(inbox).Length == 0, "a message over the quota was written all the same");
    }

    [Fact]
    public async Task An_alias_to_a_local_user_and_a_remote_address_delivers_to_both()
    {
        var dataDir = Accounts.WithJane("alias-remote");
        Accounts.DirectoryOf(dataDir).AddAlias("team@campus.test", ["jane@campus.test", "bob@partner.test"]);
        await using var partner = new ScriptedSmtpServer();
        await using var engine = await EngineInstance.StartInAsync(dataDir,
            $"engine.delivery.transport = {{ \"partner.test\" = \"smtp:[127.0.0.1]:{partner.Port}\" }}");
        var id = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "Subject: to the team\r\n\r\nhello both", "team@campus.test");
        Assert.Single(await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", 1));
        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<bob@partner.test>, relay=127.0.0.1[127.0.0.1]:{partner.Port}", StringComparison.Ordinal)
                                            && l.Contains("status=sent", StringComparison.Ordinal));
        var relayed = Assert.Single(partner.Messages);
        Assert.Equal(["bob@partner.test"], relayed.To);
        Assert.Equal("alice@client.test", relayed.From);
        Assert.Contains("hello both", relayed.Data, StringComparison.Ordinal);
        await engine.Logs.WaitForAsync(l => l == $"{id}: removed");
    }

    [Fact]
    public async Task Notify_success_gets_delivered_relayed_and_expanded_reports_and_goes_on_to_a_next_hop_that_offers_dsn()
    {
        var dataDir = Accounts.WithJane("notify-success");
        var directory = Accounts.DirectoryOf(dataDir);
        foreach (var user in new[] { "bob@campus.test", "carol@campus.test", "dave@campus.test" })
            directory.AddUser(user, "", "{LOCKED}", 0);
        directory.AddAlias("staff@campus.test", ["carol@campus.test", "dave@campus.test", "w@dsn.test"]);
        await using var plain = new ScriptedSmtpServer();
        await using var reporting = new ScriptedSmtpServer(extensions: ["PIPELINING", "8BITMIME", "DSN"]);
        await using var engine = await EngineInstance.StartInAsync(dataDir,
            $"engine.delivery.transport = {{ \"nodsn.test\" = \"smtp:[127.0.0.1]:{plain.Port}\", \"dsn.test\" = \"smtp:[127.0.0.1]:{reporting.Port}\" }}");

        string id;
        await using (var smtp = await RawSmtp.GreetedAsync(engine.Port))
        {
            await smtp.CommandAsync("EHLO campus.test");
            Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<jane@campus.test> RET=HDRS ENVID=report-7")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<bob@campus.test> NOTIFY=SUCCESS ORCPT=rfc822;Bob@campus.test")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<staff@campus.test> NOTIFY=SUCCESS,FAILURE")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<x@nodsn.test> NOTIFY=SUCCESS")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<y@dsn.test> NOTIFY=SUCCESS ORCPT=rfc822;Y@dsn.test")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<z@nodsn.test>")).Code);
            Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
            var reply = await smtp.CommandAsync("From: jane@campus.test\r\nSubject: the report\r\n\r\nbody text\r\n.");
            Assert.Equal(250, reply.Code);
            id = reply.Last.Split(' ')[^1];
        }
        await engine.Logs.WaitForAsync(l => l == $"{id}: removed");
        foreach (var user in new[] { "bob@campus.test", "carol@campus.test", "dave@campus.test" })
            Assert.Single(await Accounts.WaitForNewAsync(dataDir, user, 1));

        // Every report the message was owed is queued before it is removed; each reaches Jane's Maildir.
        var notices = engine.Logs.Lines.Where(l => l.StartsWith($"{id}: sender delivery status notification: ", StringComparison.Ordinal))
            .Select(l => l.Split(' ')[^1]).ToArray();
        Assert.NotEmpty(notices);
        foreach (var notice in notices)
            await engine.Logs.WaitForAsync(l => l == $"{notice}: removed");
        Assert.DoesNotContain(engine.Logs.Lines, l => l.StartsWith($"{id}: sender non-delivery notification", StringComparison.Ordinal));
        var reports = (await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", notices.Length)).Select(f => MimeKit.MimeMessage.Load(f)).ToArray();
        Assert.Equal(notices.Length, reports.Length);
        var groups = new Dictionary<string, MimeKit.HeaderList>();
        foreach (var dsn in reports)
        {
            Assert.Equal("Successful Mail Delivery Report", dsn.Subject);
            var report = Assert.IsType<MimeKit.MultipartReport>(dsn.Body);
            var status = Assert.Single(report.OfType<MimeKit.MessageDeliveryStatus>());
            Assert.Equal("report-7", status.StatusGroups[0]["Original-Envelope-Id"]);
            foreach (var group in status.StatusGroups.Where(g => g.Contains("Final-Recipient")))
                groups.Add(group["Final-Recipient"]!, group);
            Assert.Equal("text/rfc822-headers", report[2].ContentType.MimeType); // a success report returns the headers only
        }
        // Bob: delivered here. The alias: "expanded", its members not named. x@: relayed to a next hop without DSN. y@: the
        // next hop has DSN, so NOTIFY went on and it reports. z@ did not ask.
        Assert.Equal(["rfc822; bob@campus.test", "rfc822; staff@campus.test", "rfc822; x@nodsn.test"], groups.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("delivered", groups["rfc822; bob@campus.test"]["Action"]);
        Assert.Equal("rfc822; Bob@campus.test", groups["rfc822; bob@campus.test"]["Original-Recipient"]);
        Assert.Equal("2.0.0", groups["rfc822; bob@campus.test"]["Status"]);
        Assert.Equal("expanded", groups["rfc822; staff@campus.test"]["Action"]);
        Assert.Equal("relayed", groups["rfc822; x@nodsn.test"]["Action"]);

        // The next hop with DSN gets NOTIFY as asked, except for the alias's member: SUCCESS is answered here, by "expanded".
        // RET, ENVID and ORCPT go on with it, through the queue; the next hop without DSN hears none of them.
        Assert.Contains("MAIL FROM:<jane@campus.test> RET=HDRS ENVID=report-7", reporting.Commands);
        Assert.Contains("RCPT TO:<y@dsn.test> NOTIFY=SUCCESS ORCPT=rfc822;Y@dsn.test", reporting.Commands);
        Assert.Contains("RCPT TO:<w@dsn.test> NOTIFY=FAILURE", reporting.Commands);
        Assert.Single(plain.Commands, c => c.StartsWith("MAIL FROM:<jane@campus.test>", StringComparison.Ordinal) && !c.Contains("RET=", StringComparison.Ordinal)
                                           && !c.Contains("ENVID=", StringComparison.Ordinal));
        Assert.Contains("RCPT TO:<x@nodsn.test>", plain.Commands);
    }

    [Fact]
    public async Task A_subaddress_lands_in_its_user_s_maildir_with_the_separator_the_configuration_gives()
    {
        var dataDir = Accounts.WithJane("subaddress");
        await using (var engine = await EngineInstance.StartInAsync(dataDir))
        {
            var id = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "Subject: tagged\r\n\r\nplus", "jane+news@campus.test");
            await engine.Logs.WaitForAsync(l => l == $"{id}: removed");
        }
        var first = Assert.Single(await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", 1));
        Assert.StartsWith("Return-Path: <alice@client.test>\r\nDelivered-To: jane+news@campus.test\r\n",
            await File.ReadAllTextAsync(first, TestContext.Current.CancellationToken), StringComparison.Ordinal);

        await using (var engine = await EngineInstance.StartInAsync(dataDir, "engine.directory.subaddress-separator = \"-\""))
        {
            var id = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "Subject: dashed\r\n\r\nminus", "jane-lists@campus.test");
            await engine.Logs.WaitForAsync(l => l == $"{id}: removed");
            await using var smtp = await RawSmtp.GreetedAsync(engine.Port);
            await smtp.CommandAsync("EHLO client.test");
            await smtp.CommandAsync("MAIL FROM:<alice@client.test>");
            Assert.Equal((550, "5.1.1"), await smtp.CommandAsync("RCPT TO:<jane+news@campus.test>").ContinueWith(t => (t.Result.Code, t.Result.Enhanced)));
        }
        var both = await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", 2);
        Assert.Equal(2, both.Length);
        Assert.Single(both, f => File.ReadAllText(f).Contains("Delivered-To: jane-lists@campus.test\r\n", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Deliveries_written_at_once_count_against_the_quota_together()
    {
        var dataDir = Accounts.WithJane("quota-concurrent");
        Accounts.DirectoryOf(dataDir).AddUser("small@campus.test", "", "{LOCKED}", 4000);
        await using var engine = await EngineInstance.StartInAsync(dataDir);
        var ids = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            RawSmtp.SendMessageAsync(engine.Port, "jane@campus.test", $"Subject: {i}\r\n\r\n{new string('x', 1000)}", "small@campus.test")));
        foreach (var id in ids)
            await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<small@campus.test>", StringComparison.Ordinal));
        var files = Directory.GetFiles(Path.Combine(Maildir(dataDir, "campus.test", "small"), "new"));
        Assert.True(files.Sum(f => new FileInfo(f).Length) <= 4000, $"{files.Length} messages, {files.Sum(f => new FileInfo(f).Length)} bytes, over the quota");
        Assert.InRange(files.Length, 1, 3); // about 1,200 bytes each: three fit
        Assert.Contains(engine.Logs.Lines, l => l.Contains("dsn=4.2.2, status=deferred (Mailbox full", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_mailbox_lists_its_messages_by_uid_and_expunges_them_across_a_restart()
    {
        var dataDir = Accounts.WithJane("index");
        string[] files;
        long[] uids;
        await using (var engine = await EngineInstance.StartInAsync(dataDir))
        {
            foreach (var subject in new[] { "one", "two", "three" })
            {
                var id = await SendAsync(engine.Port, "jane@campus.test", subject);
                // Logged once the mailbox has indexed it (the file is in new/ a moment before).
                await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<jane@campus.test>", StringComparison.Ordinal));
            }
            files = await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", 3);
            var mailboxes = await engine.Services.GetRequiredService<IRequiredActor<MailboxRegionKey>>().GetAsync(TestContext.Current.CancellationToken);
            var listing = await mailboxes.Ask<MailboxReplies.Listing>(new MailboxCommands.List("jane@campus.test"), TimeSpan.FromSeconds(10),
                TestContext.Current.CancellationToken);
            uids = listing.Messages.Select(m => m.Uid).ToArray();
            Assert.Equal([1L, 2L, 3L], uids);
            Assert.Equal(files.Select(Path.GetFileName).Order(StringComparer.Ordinal), listing.Messages.Select(m => m.FileName).Order(StringComparer.Ordinal));
            Assert.All(listing.Messages, m => Assert.Equal(new FileInfo(Path.Combine(dataDir, "mail", "campus.test", "jane", "new", m.FileName)).Length, m.Size));

            var expunged = await mailboxes.Ask<MailboxReplies.Expunged>(new MailboxCommands.Expunge("jane@campus.test", [2, 7]), TimeSpan.FromSeconds(10),
                TestContext.Current.CancellationToken);
            Assert.Equal([2L], expunged.Uids);
            Assert.Equal(2, Directory.GetFiles(Path.Combine(dataDir, "mail", "campus.test", "jane", "new")).Length);
        }

        await using (var engine = await EngineInstance.StartInAsync(dataDir))
        {
            var mailboxes = await engine.Services.GetRequiredService<IRequiredActor<MailboxRegionKey>>().GetAsync(TestContext.Current.CancellationToken);
            var listing = await mailboxes.Ask<MailboxReplies.Listing>(new MailboxCommands.List("jane@campus.test"), TimeSpan.FromSeconds(10),
                TestContext.Current.CancellationToken);
            Assert.Equal([1L, 3L], listing.Messages.Select(m => m.Uid));
            var four = await SendAsync(engine.Port, "jane@campus.test", "four");
            await engine.Logs.WaitForAsync(l => l.StartsWith($"{four}: to=<jane@campus.test>", StringComparison.Ordinal));
            var later = await mailboxes.Ask<MailboxReplies.Listing>(new MailboxCommands.List("jane@campus.test"), TimeSpan.FromSeconds(10),
                TestContext.Current.CancellationToken);
            Assert.Equal([1L, 3L, 4L], later.Messages.Select(m => m.Uid)); // UID 2 is never used again
        }
    }
}
