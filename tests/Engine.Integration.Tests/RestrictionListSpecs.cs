using Engine.Integration.Tests.Support;
using Engine.Messages.Queue;

namespace Engine.Integration.Tests;

/// <summary>
/// engine.smtp.restrictions on a running engine: clients from several loopback addresses, refused at RCPT with
/// Postfix's replies and maillog lines; a table edited while the engine runs; a typo stops the start.
/// </summary>
public sealed class RestrictionListSpecs
{
    [Fact]
    public async Task Client_and_sender_lists_refuse_at_RCPT_with_postfix_replies_and_log_lines_and_tables_are_read_again()
    {
        var dir = TempDir.Create("restrictions");
        var clients = Path.Combine(dir, "clients.cidr");
        await File.WriteAllTextAsync(clients, "127.0.0.2 REJECT listed here\n127.0.0.3 WARN watch it\n", TestContext.Current.CancellationToken);
        await using var engine = await Accounts.WithSettingsAsync("restrictions", [
            $"engine.smtp.restrictions.client = [\"check_client_access cidr:{clients}\"]",
            "engine.smtp.restrictions.helo = [warn_if_reject, reject_non_fqdn_helo_hostname]",
            "engine.smtp.restrictions.sender = [reject_non_fqdn_sender]"]);

        await using (var smtp = await RawSmtp.GreetedAsync(engine.Port, from: "127.0.0.2"))
        {
            await smtp.CommandAsync("EHLO client.test");
            Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<a@client.test>")).Code); // delayed: refused at RCPT
            Assert.Equal("554 5.7.1 <unknown[127.0.0.2]>: Client host rejected: listed here", (await smtp.CommandAsync("RCPT TO:<jane@campus.test>")).Last);
        }
        await engine.Logs.WaitForAsync(l => l == "NOQUEUE: reject: RCPT from unknown[127.0.0.2]: 554 5.7.1 <unknown[127.0.0.2]>: Client host rejected: "
            + "listed here; from=<a@client.test> to=<jane@campus.test> proto=ESMTP helo=<client.test>");

        await using (var smtp = await RawSmtp.GreetedAsync(engine.Port, from: "127.0.0.3"))
        {
            await smtp.CommandAsync("EHLO laptop");
            Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<a@client>")).Code);
            Assert.Equal("504 5.5.2 <a@client>: Sender address rejected: need fully-qualified address", (await smtp.CommandAsync("RCPT TO:<jane@campus.test>")).Last);
            await smtp.CommandAsync("RSET");
            await smtp.CommandAsync("MAIL FROM:<a@client.test>");
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<jane@campus.test>")).Code); // the helo check only warns
        }
        await engine.Logs.WaitForAsync(l => l.EndsWith(": warn: RCPT from unknown[127.0.0.3]: watch it; from=<a@client.test> to=<jane@campus.test> proto=ESMTP helo=<laptop>",
            StringComparison.Ordinal));
        await engine.Logs.WaitForAsync(l => l.EndsWith(": reject_warning: RCPT from unknown[127.0.0.3]: 504 5.5.2 <laptop>: Helo command rejected: need fully-qualified "
            + "hostname; from=<a@client.test> to=<jane@campus.test> proto=ESMTP helo=<laptop>", StringComparison.Ordinal));

        // The table is edited while the engine runs: 127.0.0.2 may send now, with swaks.
        await File.WriteAllTextAsync(clients, "127.0.0.2 OK\n", TestContext.Current.CancellationToken);
        File.SetLastWriteTimeUtc(clients, DateTime.UtcNow.AddSeconds(5));
        await Task.Delay(1100, TestContext.Current.CancellationToken); // the tables' reload check
        var run = await Processes.RunAsync("swaks", ["--server", $"127.0.0.1:{engine.Port}", "--local-interface", "127.0.0.2", "--helo", "client.test",
            "--from", "a@client.test", "--to", "jane@campus.test", "--timeout", "30"]);
        Assert.True(run.ExitCode == 0, run.Output + run.Error);
    }

    [Fact]
    public async Task An_unknown_restriction_stops_the_start_with_its_name()
    {
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => EngineInstance.StartAsync("engine.smtp.restrictions.client = [reject_unknwon_client]"));
        Assert.Contains("engine.smtp.restrictions.client: unknown restriction 'reject_unknwon_client'", failure.ToString());
        var relay = await Assert.ThrowsAnyAsync<Exception>(() => EngineInstance.StartAsync("engine.smtp.restrictions.recipient = [permit_mynetworks]"));
        Assert.Contains("without one, this node would relay for anyone", relay.ToString());
    }

    private static async Task<(string Id, RawSmtp.Reply Reply)> SendAsync(EngineInstance engine, string from, string sender, string recipient)
    {
        await using var smtp = await RawSmtp.GreetedAsync(engine.Port, from);
        await smtp.CommandAsync("EHLO client.test");
        await smtp.CommandAsync($"MAIL FROM:<{sender}>");
        Assert.Equal(250, (await smtp.CommandAsync($"RCPT TO:<{recipient}>")).Code);
        var data = await smtp.CommandAsync("DATA");
        if (data.Code != 354)
            return ("", data);
        var reply = await smtp.CommandAsync("Subject: effects\r\n\r\nbody\r\n.");
        return (reply.Last.Split(' ')[^1], reply);
    }

    [Fact]
    public async Task A_FILTER_action_sends_every_recipient_to_the_content_filter_and_MAIL_without_HELO_is_taken_when_not_required()
    {
        await using var filter = new ScriptedSmtpServer();
        var dir = TempDir.Create("restriction-filter");
        var senders = Path.Combine(dir, "senders");
        await File.WriteAllTextAsync(senders, $"scan.test FILTER scan:[127.0.0.1]:{filter.Port}\n", TestContext.Current.CancellationToken);
        await using var engine = await Accounts.WithSettingsAsync("restriction-filter", [
            $"engine.smtp.restrictions.sender = [\"check_sender_access texthash:{senders}\"]", "engine.smtp.helo-required = off"]);

        string id;
        await using (var smtp = await RawSmtp.GreetedAsync(engine.Port))
        {
            Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<a@scan.test>")).Code); // no HELO first
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<jane@campus.test>")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<bob@elsewhere.test>")).Code);
            Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
            id = (await smtp.CommandAsync("Subject: to be scanned\r\n\r\nbody\r\n.")).Last.Split(' ')[^1];
        }
        await engine.Logs.WaitForAsync(l => l == $"NOQUEUE: filter: RCPT from unknown[127.0.0.1]: <a@scan.test>: Sender address triggers FILTER scan:[127.0.0.1]:{filter.Port}; "
            + "from=<a@scan.test> to=<jane@campus.test> proto=SMTP helo=<>");
        await engine.Logs.WaitForAsync(l => l == $"{id}: removed", TimeSpan.FromSeconds(30));
        var scanned = Assert.Single(filter.Messages); // both recipients, the local one too, in one transaction
        Assert.Equal(["bob@elsewhere.test", "jane@campus.test"], scanned.To.Order());
        Assert.Equal("a@scan.test", scanned.From);
        Assert.Contains("Subject: to be scanned", scanned.Data, StringComparison.Ordinal);
        Assert.DoesNotContain(engine.Logs.Lines, l => l.Contains("relay=local", StringComparison.Ordinal));

        await using (var smtp = await RawSmtp.GreetedAsync(engine.Port))
        {
            await smtp.CommandAsync("EHLO client.test");
            await smtp.CommandAsync("MAIL FROM:<a@client.test>");
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<jane@campus.test>")).Code);
        }
    }

    [Fact]
    public async Task Access_actions_hold_discard_prepend_and_redirect_and_the_data_and_end_of_data_lists_refuse()
    {
        var dir = TempDir.Create("restriction-effects");
        var senders = Path.Combine(dir, "senders");
        await File.WriteAllTextAsync(senders, "hold.test HOLD look at this\ndiscard.test DISCARD trap\nprepend.test PREPEND X-Tag: yes\n"
            + "redirect.test REDIRECT sink@elsewhere.test\nlate.test REJECT no thanks\n", TestContext.Current.CancellationToken);
        var clients = Path.Combine(dir, "clients");
        await File.WriteAllTextAsync(clients, "127.0.0.5 REJECT not your data\n", TestContext.Current.CancellationToken);
        await using var engine = await Accounts.WithSettingsAsync("restriction-effects", [
            $"engine.smtp.restrictions.sender = [\"check_sender_access exact:{senders}\"]",
            $"engine.smtp.restrictions.data = [\"check_client_access cidr:{clients}\"]",
            "engine.smtp.restrictions.end-of-data = [\"reject_unlisted_sender\"]"]);

        var held = await SendAsync(engine, "127.0.0.1", "a@hold.test", "bob@elsewhere.test");
        Assert.Equal(QueueState.Hold, (await engine.QueuedAsync(held.Id)).State);
        await engine.Logs.WaitForAsync(l => l == $"{held.Id}: held: look at this");
        await engine.Logs.WaitForAsync(l => l == "NOQUEUE: hold: RCPT from unknown[127.0.0.1]: <a@hold.test>: Sender address look at this; from=<a@hold.test> to=<bob@elsewhere.test> proto=ESMTP helo=<client.test>");

        var prepended = await SendAsync(engine, "127.0.0.1", "a@prepend.test", "bob@elsewhere.test");
        Assert.StartsWith("X-Tag: yes\r\nReceived: from client.test", System.Text.Encoding.UTF8.GetString(engine.Body(await engine.QueuedAsync(prepended.Id))),
            StringComparison.Ordinal);

        var redirected = await SendAsync(engine, "127.0.0.1", "a@redirect.test", "bob@elsewhere.test");
        Assert.Equal(["sink@elsewhere.test"], (await engine.QueuedAsync(redirected.Id)).Envelope.Recipients.Select(r => r.Address));

        var discarded = await SendAsync(engine, "127.0.0.1", "a@discard.test", "bob@elsewhere.test");
        Assert.Equal(250, discarded.Reply.Code); // claimed, as Postfix claims it
        Assert.DoesNotContain(await engine.QueueAsync(), m => m.Id.Value == discarded.Id);

        var atData = await SendAsync(engine, "127.0.0.5", "a@client.test", "jane@campus.test");
        Assert.Equal("554 5.7.1 <unknown[127.0.0.5]>: Client host rejected: not your data", atData.Reply.Last);

        var forged = await SendAsync(engine, "127.0.0.1", "forged@campus.test", "bob@elsewhere.test");
        Assert.Equal("550 5.1.0 <forged@campus.test>: Sender address rejected: User unknown in virtual mailbox table", forged.Reply.Last);
        Assert.Equal(3, (await engine.QueueAsync()).Count); // held, prepended, redirected, and none of the refused or discarded
    }

    [Fact]
    public async Task A_client_that_talks_without_listening_is_refused_at_DATA_and_a_pipelining_one_is_not()
    {
        await using var engine = await Accounts.WithSettingsAsync("unauth-pipelining", ["engine.smtp.restrictions.data = [reject_unauth_pipelining]"]);

        // EHLO and MAIL in one write: the client did not wait for the EHLO reply.
        await using (var rude = await RawSmtp.GreetedAsync(engine.Port))
        {
            await rude.SendAsync("EHLO client.test\r\nMAIL FROM:<a@client.test>\r\n");
            Assert.Equal(250, (await rude.ReadAsync()).Code);
            Assert.Equal(250, (await rude.ReadAsync()).Code);
            Assert.Equal(250, (await rude.CommandAsync("RCPT TO:<jane@campus.test>")).Code);
            Assert.Equal("503 5.5.0 <DATA>: Data command rejected: Improper use of SMTP command pipelining", (await rude.CommandAsync("DATA")).Last);
        }

        // MAIL, RCPT and DATA in one group after EHLO's reply, as RFC 2920 allows: accepted (swaks pipelines so too).
        await using (var polite = await RawSmtp.GreetedAsync(engine.Port))
        {
            await polite.CommandAsync("EHLO client.test");
            await polite.SendAsync("MAIL FROM:<a@client.test>\r\nRCPT TO:<jane@campus.test>\r\nDATA\r\n");
            Assert.Equal(250, (await polite.ReadAsync()).Code);
            Assert.Equal(250, (await polite.ReadAsync()).Code);
            Assert.Equal(354, (await polite.ReadAsync()).Code);
            Assert.Equal(250, (await polite.CommandAsync("Subject: x\r\n\r\nbody\r\n.")).Code);
        }
        var swaks = await Processes.RunAsync("swaks", ["--server", $"127.0.0.1:{engine.Port}", "--pipeline", "--from", "a@client.test",
            "--to", "jane@campus.test", "--timeout", "30"]);
        Assert.True(swaks.ExitCode == 0, swaks.Output + swaks.Error);
    }
}
