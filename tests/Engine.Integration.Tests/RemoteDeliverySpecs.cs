using System.Net;
using Engine.Integration.Tests.Support;

namespace Engine.Integration.Tests;

/// <summary>Remote delivery by transport map: relayed to a second engine, discarded, bounced, deferred and retried.</summary>
public sealed class RemoteDeliverySpecs
{
    [Fact]
    public async Task A_server_that_does_not_answer_the_end_of_data_within_the_timeout_gets_the_message_deferred()
    {
        await using var slow = new ScriptedSmtpServer { DataDelay = TimeSpan.FromHours(1) }; // ended when disposed
        await using var engine = await EngineInstance.StartAsync(
            $"engine.delivery.transport = {{ \"slow.test\" = \"smtp:[127.0.0.1]:{slow.Port}\" }}", "engine.delivery.timeouts.data-done = 1s");
        var id = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "Subject: waits\r\n\r\nfor an answer", "bob@slow.test");
        var line = await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<bob@slow.test>", StringComparison.Ordinal)
                                                       && l.Contains("status=deferred", StringComparison.Ordinal), TimeSpan.FromSeconds(20));
        Assert.Contains($"dsn=4.4.2, status=deferred (451 4.4.2 delivery to 127.0.0.1:{slow.Port} failed: conversation timed out)", line, StringComparison.Ordinal);
        var (_, _, _, transmission) = Maillog.AssertDelays(line);
        Assert.InRange(transmission, 0.9, 10); // the wait for the reply, cut at the second the setting gives (not 600 s)
        Assert.Contains("DATA", slow.Commands); // it got as far as the message: the data-done stage timed out
    }

    [Fact]
    public async Task A_server_silent_after_connecting_or_after_mail_gets_the_message_deferred_after_the_command_timeout()
    {
        await using var mute = new ScriptedSmtpServer((verb, _) => verb == "CONNECT" ? "HANG" : null); // ended when disposed
        await using var stuck = new ScriptedSmtpServer((verb, _) => verb == "MAIL" ? "HANG" : null);
        await using var engine = await EngineInstance.StartAsync(
            $"engine.delivery.transport = {{ \"mute.test\" = \"smtp:[127.0.0.1]:{mute.Port}\", \"stuck.test\" = \"smtp:[127.0.0.1]:{stuck.Port}\" }}",
            "engine.delivery.timeouts.command = 1s");
        var id = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "Subject: waits\r\n\r\nfor a word", "bob@mute.test", "carol@stuck.test");
        foreach (var (to, server) in new[] { ("bob@mute.test", mute), ("carol@stuck.test", stuck) })
        {
            var line = await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<{to}>", StringComparison.Ordinal)
                                                           && l.Contains("status=deferred", StringComparison.Ordinal), TimeSpan.FromSeconds(20));
            Assert.Matches(@"dsn=4\.4\.\d, status=deferred \(4\d\d 4\.4\.\d .*timed out", line);
            var delays = Maillog.AssertDelays(line);
            Assert.InRange(delays.C + delays.D, 0.9, 10); // cut at the second the setting gives (not Postfix's 300 s)
            Assert.Equal(1, server.Connections);
        }
        Assert.Empty(mute.Commands); // no greeting, so nothing was said
        Assert.Equal(["EHLO", "MAIL"], stuck.Commands.Select(c => c.Split(' ')[0]));
    }

    [Fact]
    public async Task A_domain_routed_local_stays_here_while_other_mail_leaves_by_the_relayhost()
    {
        await using var relay = new ScriptedSmtpServer();
        await using var engine = await EngineInstance.StartAsync($"engine.delivery.relayhost = \"[127.0.0.1]:{relay.Port}\"",
            "engine.delivery.transport = { \"here.test\" = local }");

        // From mynetworks, so both are accepted; here.test is neither a local domain nor in the directory.
        var id = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "Subject: split\r\n\r\nboth ways", "nobody@here.test", "bob@elsewhere.test");

        var sent = await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<bob@elsewhere.test>, relay=127.0.0.1[127.0.0.1]:{relay.Port}", StringComparison.Ordinal)
                                                       && l.Contains("status=sent", StringComparison.Ordinal));
        Maillog.AssertDelays(sent);
        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<nobody@here.test>, relay=local, delay=", StringComparison.Ordinal)
                                            && l.Contains("dsn=4.3.0, status=deferred (no mailbox in the directory", StringComparison.Ordinal));
        Assert.Equal(["bob@elsewhere.test"], Assert.Single(relay.Messages).To); // the relayhost never saw here.test's
    }

    [Fact]
    public async Task Mail_is_relayed_discarded_or_bounced_by_the_transport_map_and_leaves_the_queue()
    {
        await using var next = await EngineInstance.StartAsync("engine.smtp.mydestination = [\"remote.test\"]", "engine.hostname = next.test");
        await using var engine = await EngineInstance.StartAsync(
            $"engine.delivery.transport = {{ \"remote.test\" = \"smtp:[127.0.0.1]:{next.Port}\", \"void.test\" = discard, \"err.test\" = \"error:5.1.2 we do not deliver there\" }}");

        var id = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "Subject: onward\r\n\r\nto the next hop", "bob@remote.test", "x@err.test", "y@void.test");

        var sent = await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<bob@remote.test>, relay=127.0.0.1[127.0.0.1]:{next.Port}", StringComparison.Ordinal)
                                                       && l.Contains("dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as", StringComparison.Ordinal));
        Maillog.AssertDelays(sent);
        var refused = await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<x@err.test>", StringComparison.Ordinal) && l.Contains("dsn=5.1.2, status=bounced (we do not deliver there)", StringComparison.Ordinal));
        var discarded = await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<y@void.test>", StringComparison.Ordinal) && l.Contains("status=sent (discarded)", StringComparison.Ordinal));
        // Not dispatched anywhere: the whole delay is before the queue manager's dispatch (a), as Postfix's error and discard.
        foreach (var line in new[] { refused, discarded })
            Assert.Equal((0, 0, 0), Maillog.AssertDelays(line) is var (_, b, c, d) ? (b, c, d) : default);
        await engine.Logs.WaitForAsync(l => l == $"{id}: removed");
        // What is left is the DSN for x@err.test, from <> to the sender (its domain has no DNS here).
        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: sender non-delivery notification", StringComparison.Ordinal));
        var left = Assert.Single(await engine.QueueAsync());
        Assert.Equal("", left.Envelope.Sender);
        Assert.Equal("alice@client.test", Assert.Single(left.Envelope.Recipients).Address);

        var relayed = Assert.Single(await next.QueueAsync());
        Assert.Equal("alice@client.test", relayed.Envelope.Sender);
        Assert.Equal("bob@remote.test", Assert.Single(relayed.Envelope.Recipients).Address);
        var text = System.Text.Encoding.ASCII.GetString(next.Body(relayed));
        Assert.Contains("by mx.test (Engine) with ESMTP id " + id, text); // our Received: travels with it
        Assert.EndsWith("Subject: onward\r\n\r\nto the next hop\r\n", text);
    }

    [Fact]
    public async Task A_next_hop_that_is_down_is_deferred_and_retried_until_it_takes_the_mail()
    {
        var port = Loopback.FreePort();
        await using var engine = await EngineInstance.StartAsync(
            $"engine.delivery.transport = {{ \"later.test\" = \"smtp:[127.0.0.1]:{port}\" }}", "engine.queue.minimal-backoff = 1s",
            "engine.queue.maximal-backoff = 2s");
        var id = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "Subject: onward\r\n\r\nto the next hop", "carol@later.test");
        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<carol@later.test>", StringComparison.Ordinal)
                                            && l.Contains("dsn=4.4.1, status=deferred", StringComparison.Ordinal));
        Assert.Single(await engine.QueueAsync());

        await using var later = await EngineInstance.StartAsync($"engine.smtp.listen = [\"127.0.0.1:{port}\"]", "engine.smtp.mydestination = [\"later.test\"]");
        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<carol@later.test>", StringComparison.Ordinal)
                                            && l.Contains("status=sent", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        await engine.Logs.WaitForAsync(l => l == $"{id}: removed");
        Assert.Equal("carol@later.test", Assert.Single(Assert.Single(await later.QueueAsync()).Envelope.Recipients).Address);
    }

    [Fact]
    public async Task A_host_answering_4xx_then_250_gets_it_on_the_retry_and_a_host_answering_5xx_returns_it_with_its_headers()
    {
        await using var later = new ScriptedSmtpServer((verb, n) => verb == "DATA" && n == 1 ? "451 4.3.0 try again later" : null);
        await using var refusing = new ScriptedSmtpServer((verb, _) => verb == "RCPT" ? "550 5.1.1 <x@refusing.test>: no such user here" : null);
        var dataDir = Accounts.WithJane("4xx-5xx");
        await using var engine = await EngineInstance.StartInAsync(dataDir, "engine.queue.minimal-backoff = 1s",
            $"engine.delivery.transport = {{ \"later.test\" = \"smtp:[127.0.0.1]:{later.Port}\", \"refusing.test\" = \"smtp:[127.0.0.1]:{refusing.Port}\" }}");

        var id = await RawSmtp.SendMessageAsync(engine.Port, "jane@campus.test",
            "From: Jane <jane@campus.test>\r\nSubject: the plan\r\nX-Trace: 42\r\n\r\nsee you", "carol@later.test", "x@refusing.test");

        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<carol@later.test>", StringComparison.Ordinal)
                                            && l.Contains("dsn=4.3.0, status=deferred (451 4.3.0 try again later)", StringComparison.Ordinal));
        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<carol@later.test>", StringComparison.Ordinal)
                                            && l.Contains("dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as S1)", StringComparison.Ordinal));
        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<x@refusing.test>", StringComparison.Ordinal)
                                            && l.Contains("dsn=5.1.1, status=bounced (550 5.1.1 <x@refusing.test>: no such user here)", StringComparison.Ordinal));
        await engine.Logs.WaitForAsync(l => l == $"{id}: removed");
        var delivered = Assert.Single(later.Messages);
        Assert.Equal(["carol@later.test"], delivered.To);
        Assert.Contains("X-Trace: 42\r\n", delivered.Data, StringComparison.Ordinal);
        Assert.Empty(refusing.Messages);

        var inbox = await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", 1);
        var report = Assert.IsType<MimeKit.MultipartReport>(MimeKit.MimeMessage.Load(Assert.Single(inbox)).Body);
        var failed = Assert.Single(report.OfType<MimeKit.MessageDeliveryStatus>().Single().StatusGroups, g => g.Contains("Final-Recipient"));
        Assert.Equal("rfc822; x@refusing.test", failed["Final-Recipient"]);
        Assert.Equal("smtp; 550 5.1.1 <x@refusing.test>: no such user here", failed["Diagnostic-Code"]);
        var returned = Assert.Single(report.OfType<MimeKit.MessagePart>()).Message!;
        Assert.Equal("the plan", returned.Subject);
        Assert.Equal("42", returned.Headers["X-Trace"]);
    }

    [Fact]
    public async Task A_bounced_recipient_gets_a_dsn_in_the_senders_maildir_and_no_bounce_goes_to_the_null_sender()
    {
        var dataDir = Accounts.WithJane("bounce");
        await using var engine = await EngineInstance.StartInAsync(dataDir,
            "engine.delivery.transport = { \"err.test\" = \"error:5.1.2 no such domain here\" }");

        await using (var smtp = await RawSmtp.GreetedAsync(engine.Port))
        {
            await smtp.CommandAsync("EHLO campus.test");
            Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<jane@campus.test> ENVID=trip-42")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<x@err.test> NOTIFY=FAILURE ORCPT=rfc822;X@err.test")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<quiet@err.test> NOTIFY=NEVER")).Code);
            Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("From: jane@campus.test\r\nSubject: plans\r\n\r\nsee you\r\n.")).Code);
            // From <>: the bounce of a bounce is never made.
            Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<>")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<y@err.test>")).Code);
            Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("Subject: bounce\r\n\r\nx\r\n.")).Code);
        }

        var inbox = await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", 1);
        var file = Assert.Single(inbox);
        var dsn = MimeKit.MimeMessage.Load(file);
        Assert.Equal("Undelivered Mail Returned to Sender", dsn.Subject);
        Assert.Equal("MAILER-DAEMON@mx.test", dsn.From.Mailboxes.Single().Address);
        var report = Assert.IsType<MimeKit.MultipartReport>(dsn.Body);
        Assert.Equal("delivery-status", report.ReportType);
        var status = Assert.Single(report.OfType<MimeKit.MessageDeliveryStatus>());
        Assert.Equal("trip-42", status.StatusGroups[0]["Original-Envelope-Id"]);
        var recipient = Assert.Single(status.StatusGroups, g => g.Contains("Final-Recipient")); // quiet@ asked NEVER
        Assert.Equal("rfc822; x@err.test", recipient["Final-Recipient"]);
        Assert.Equal("rfc822; X@err.test", recipient["Original-Recipient"]);
        Assert.Equal("failed", recipient["Action"]);
        Assert.Equal("5.1.2", recipient["Status"]);
        var returned = Assert.Single(report.OfType<MimeKit.MessagePart>()).Message;
        Assert.Equal("plans", returned?.Subject);

        await engine.Logs.WaitForAsync(l => l.Contains("sender non-delivery notification", StringComparison.Ordinal));
        var end = DateTime.UtcNow.AddSeconds(10);
        while ((await engine.QueueAsync()).Count > 0 && DateTime.UtcNow < end)
            await Task.Delay(50, TestContext.Current.CancellationToken);
        Assert.Empty(await engine.QueueAsync()); // both originals and the bounce are done
        Assert.Single(await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", 1));
    }

    [Fact]
    public async Task Mail_goes_by_mx_to_the_second_exchanger_when_the_first_refuses_by_implicit_mx_and_bounces_for_null_mx_or_no_domain()
    {
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(IPAddress.Parse("127.0.0.3"), 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        using var dns = await DnsServer.StartAsync(
            "--mx-host=two.test,mx1.two.test,10", "--mx-host=two.test,mx2.two.test,20",
            "--host-record=mx1.two.test,127.0.0.2", "--host-record=mx2.two.test,127.0.0.3", "--host-record=implicit.test,127.0.0.4",
            "--dns-rr=nullmx.test,15,000000"); // RFC 7505: MX 0 "."
        // Nothing listens on 127.0.0.2 (the preferred exchanger); the receiver is the second one, and implicit.test's A.
        await using var receiver = await EngineInstance.StartAsync($"engine.smtp.listen = [\"127.0.0.3:{port}\", \"127.0.0.4:{port}\"]",
            "engine.smtp.mydestination = [\"two.test\", \"implicit.test\"]");
        await using var engine = await EngineInstance.StartAsync($"engine.delivery.dns-servers = [\"127.0.0.1:{dns.Port}\"]",
            $"engine.delivery.smtp-port = {port}");

        var id = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "Subject: onward\r\n\r\nto the next hop", "bob@two.test", "carol@implicit.test", "dan@none.test", "eve@nullmx.test");

        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<bob@two.test>, relay=mx2.two.test[127.0.0.3]:{port}", StringComparison.Ordinal)
                                            && l.Contains("status=sent", StringComparison.Ordinal));
        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<carol@implicit.test>, relay=implicit.test[127.0.0.4]:{port}", StringComparison.Ordinal)
                                            && l.Contains("status=sent", StringComparison.Ordinal));
        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<dan@none.test>, relay=none", StringComparison.Ordinal)
                                            && l.Contains("dsn=5.1.2, status=bounced", StringComparison.Ordinal));
        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<eve@nullmx.test>, relay=none", StringComparison.Ordinal)
                                            && l.Contains("dsn=5.1.10, status=bounced", StringComparison.Ordinal)
                                            && l.Contains("does not accept mail (nullMX)", StringComparison.Ordinal));
        var received = await receiver.QueueAsync();
        Assert.Equal(["bob@two.test", "carol@implicit.test"], received.SelectMany(m => m.Envelope.Recipients).Select(r => r.Address).Order());
    }

    [Fact]
    public async Task A_domain_with_no_mx_and_only_an_aaaa_record_is_reached_over_ipv6()
    {
        int port;
        try
        {
            using var probe = new System.Net.Sockets.TcpListener(IPAddress.IPv6Loopback, 0);
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        catch (System.Net.Sockets.SocketException e)
        {
            Assert.Skip($"no IPv6 loopback here: {e.Message}");
            return;
        }
        // RFC 5321 section 5.1: no MX, so the domain itself is the exchanger; it has an AAAA record and no A record.
        using var dns = await DnsServer.StartAsync("--host-record=six.test,::1");
        await using var receiver = await EngineInstance.StartAsync($"engine.smtp.listen = [\"[::1]:{port}\"]", "engine.smtp.mydestination = [\"six.test\"]");
        await using var engine = await EngineInstance.StartAsync($"engine.delivery.dns-servers = [\"127.0.0.1:{dns.Port}\"]",
            $"engine.delivery.smtp-port = {port}");

        var id = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "Subject: six\r\n\r\nover IPv6", "bob@six.test");

        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<bob@six.test>, relay=six.test[::1]:{port}", StringComparison.Ordinal)
                                            && l.Contains("status=sent", StringComparison.Ordinal));
        var received = Assert.Single(await receiver.QueueAsync());
        Assert.Equal("bob@six.test", Assert.Single(received.Envelope.Recipients).Address);
        Assert.Equal("::1", received.Envelope.Client.Address);
    }

    [Fact]
    public async Task A_dsn_that_bounces_goes_to_the_postmaster_once_and_that_copy_never_bounces()
    {
        var dataDir = Accounts.WithJane("double-bounce");
        Accounts.DirectoryOf(dataDir).AddAlias("postmaster@campus.test", ["jane@campus.test"]);
        const string errors = "engine.delivery.transport = { \"err.test\" = \"error:5.1.2 no such domain here\" }";

        // ghost@err.test writes to x@err.test: the message bounces, and so does its DSN to ghost@err.test.
        await using (var engine = await EngineInstance.StartInAsync(dataDir, errors, "engine.queue.postmaster = \"postmaster@campus.test\""))
        {
            var id = await RawSmtp.SendMessageAsync(engine.Port, "ghost@err.test", "Subject: lost\r\n\r\nnowhere to go", "x@err.test");
            var files = await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", 1);
            var copy = MimeKit.MimeMessage.Load(Assert.Single(files));
            Assert.Equal("Postmaster Copy: Undelivered Mail", copy.Subject);
            var status = Assert.IsType<MimeKit.MultipartReport>(copy.Body).OfType<MimeKit.MessageDeliveryStatus>().Single();
            Assert.Equal("rfc822; ghost@err.test", status.StatusGroups[1]["Final-Recipient"]);
            await WaitForEmptyQueueAsync(engine);
            Assert.Equal(2, engine.Logs.Lines.Count(l => l.Contains("sender non-delivery notification", StringComparison.Ordinal)));
            Assert.Contains(engine.Logs.Lines, l => l.StartsWith($"{id}: sender non-delivery notification", StringComparison.Ordinal));
        }

        // When the postmaster's copy cannot be delivered either, it is dropped: no third notice, no loop.
        await using (var engine = await EngineInstance.StartInAsync(dataDir, errors, "engine.queue.postmaster = \"pm@err.test\""))
        {
            await RawSmtp.SendMessageAsync(engine.Port, "ghost@err.test", "Subject: lost\r\n\r\nnowhere to go", "y@err.test");
            await engine.Logs.WaitForAsync(l => l.Contains("to=<pm@err.test>", StringComparison.Ordinal) && l.Contains("status=bounced", StringComparison.Ordinal));
            await WaitForEmptyQueueAsync(engine);
            Assert.Equal(2, engine.Logs.Lines.Count(l => l.Contains("sender non-delivery notification", StringComparison.Ordinal)));
        }
        Assert.Single(await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", 1));
    }

    private static async Task WaitForEmptyQueueAsync(EngineInstance engine)
    {
        var end = DateTime.UtcNow.AddSeconds(15);
        while ((await engine.QueueAsync()).Count > 0 && DateTime.UtcNow < end)
            await Task.Delay(50, TestContext.Current.CancellationToken);
        Assert.Empty(await engine.QueueAsync());
    }
}
