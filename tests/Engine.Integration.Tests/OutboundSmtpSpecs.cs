using System.Net;
using System.Text;
using Engine.Delivery.Smtp;
using Engine.Integration.Tests.Support;
using Engine.Messages;
using Engine.Primitives;

namespace Engine.Integration.Tests;

/// <summary>The SMTP client against a real server on loopback: a second engine.</summary>
public sealed class OutboundSmtpSpecs
{
    private static Envelope EnvelopeFor(long size, params EnvelopeRecipient[] recipients) => new(
        "jane@campus.test", recipients, BodyType.EightBitMime, false, DsnReturn.Headers, "env 1",
        new ClientInfo("127.0.0.1", "unknown", "client.test", "ESMTP"), DateTimeOffset.UtcNow, size);

    [Fact]
    public async Task The_client_relays_the_spool_octets_unchanged_with_the_envelope_parameters()
    {
        // The receiver takes mail for mx.test from anyone and relays for no one.
        await using var receiver = await EngineInstance.StartAsync("engine.smtp.mynetworks = [\"192.0.2.0/24\"]");
        var body = Encoding.UTF8.GetBytes("Received: from earlier\r\nSubject: relayed\r\n\r\n.starts with a dot\r\nCafé\r\n..two\r\nno final newline");
        var envelope = EnvelopeFor(body.Length,
            new EnvelopeRecipient("bob@mx.test", DsnNotify.Success | DsnNotify.Failure, "rfc822", "Bob@mx.test"),
            new EnvelopeRecipient("victim@elsewhere.example", DsnNotify.Unspecified));

        var outcomes = await OutboundSmtp.SendAsync(new IPEndPoint(IPAddress.Loopback, receiver.Port), "relay.test", envelope,
            () => new MemoryStream(body), SmtpClientTimeouts.Default, TestContext.Current.CancellationToken);

        Assert.Equal(2, outcomes.Count);
        var sent = outcomes.Single(o => o.Address == "bob@mx.test").Reply;
        Assert.Equal(250, sent.Code);
        var refused = outcomes.Single(o => o.Address == "victim@elsewhere.example").Reply;
        Assert.Equal(554, refused.Code);
        Assert.Equal("5.7.1", refused.Enhanced);

        var queued = await receiver.QueuedAsync(sent.Text.Split(' ')[^1]);
        // The octets arrive as they were stored, with a final CRLF added: nothing re-serialized.
        Assert.Equal([.. body, .. "\r\n"u8.ToArray()], receiver.BodyAsSent(queued));
        Assert.Equal(BodyType.EightBitMime, queued.Envelope.Body);
        Assert.Equal(DsnReturn.Headers, queued.Envelope.Ret);
        Assert.Equal("env 1", queued.Envelope.EnvId);
        var bob = Assert.Single(queued.Envelope.Recipients);
        Assert.Equal(DsnNotify.Success | DsnNotify.Failure, bob.Notify);
        Assert.Equal("Bob@mx.test", bob.Orcpt);
    }

    [Fact]
    public async Task A_message_that_needs_smtputf8_goes_with_it_to_a_server_that_has_it_and_is_bounced_by_one_that_has_not()
    {
        var body = Encoding.UTF8.GetBytes("From: Jöhn <jöhn@campus.test>\r\nSubject: Grüße\r\n\r\nÜber alles\r\n");
        var envelope = EnvelopeFor(body.Length, new EnvelopeRecipient("zoë@mx.test", DsnNotify.Unspecified)) with { Sender = "jöhn@campus.test", SmtpUtf8 = true };

        await using var receiver = await EngineInstance.StartAsync();
        var outcome = Assert.Single(await OutboundSmtp.SendAsync(new IPEndPoint(IPAddress.Loopback, receiver.Port), "relay.test", envelope,
            () => new MemoryStream(body), SmtpClientTimeouts.Default, TestContext.Current.CancellationToken));
        Assert.Equal(250, outcome.Reply.Code);
        var queued = await receiver.QueuedAsync(outcome.Reply.Text.Split(' ')[^1]);
        Assert.True(queued.Envelope.SmtpUtf8); // MAIL FROM carried SMTPUTF8
        Assert.Equal("jöhn@campus.test", queued.Envelope.Sender);
        Assert.Equal("zoë@mx.test", Assert.Single(queued.Envelope.Recipients).Address);

        // A server without SMTPUTF8 (RFC 6531 section 3.4): not sent at all, a permanent 553 5.6.7 for the recipient.
        await using var plain = new ScriptedSmtpServer(extensions: ["PIPELINING", "8BITMIME"]);
        var refused = Assert.Single(await OutboundSmtp.SendAsync(new IPEndPoint(IPAddress.Loopback, plain.Port), "relay.test", envelope,
            () => new MemoryStream(body), SmtpClientTimeouts.Default, TestContext.Current.CancellationToken));
        Assert.Equal((553, "5.6.7"), (refused.Reply.Code, refused.Reply.Enhanced));
        Assert.DoesNotContain(plain.Commands, c => c.StartsWith("MAIL", StringComparison.OrdinalIgnoreCase));
        Assert.Empty(plain.Messages);
    }

    [Fact]
    public async Task A_message_over_the_servers_size_is_bounced_without_sending_and_no_server_is_deferred()
    {
        await using var receiver = await EngineInstance.StartAsync("engine.smtp.message-size-limit = 2048");
        var envelope = EnvelopeFor(5000, new EnvelopeRecipient("bob@mx.test", DsnNotify.Unspecified));
        var tooBig = await OutboundSmtp.SendAsync(new IPEndPoint(IPAddress.Loopback, receiver.Port), "relay.test", envelope,
            () => new MemoryStream(new byte[5000]), SmtpClientTimeouts.Default, TestContext.Current.CancellationToken);
        Assert.Equal(552, Assert.Single(tooBig).Reply.Code);
        Assert.Empty(await receiver.QueueAsync());

        using var unused = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        unused.Start();
        var port = ((IPEndPoint)unused.LocalEndpoint).Port;
        unused.Stop(); // nothing listens there now
        var nobody = await OutboundSmtp.SendAsync(new IPEndPoint(IPAddress.Loopback, port), "relay.test", envelope,
            () => new MemoryStream(new byte[10]), SmtpClientTimeouts.Default, TestContext.Current.CancellationToken);
        var reply = Assert.Single(nobody).Reply;
        Assert.Equal(451, reply.Code);
        Assert.Equal("4.4.1", reply.Enhanced);
    }

    [Fact]
    public async Task With_pipelining_mail_rcpt_and_data_go_together_and_without_it_each_command_waits_for_its_reply()
    {
        await using var pipelining = new ScriptedSmtpServer(extensions: ["PIPELINING", "8BITMIME"]);
        await using var lockstep = new ScriptedSmtpServer(extensions: ["8BITMIME"]);
        var body = Encoding.UTF8.GetBytes("Subject: grouped\r\n\r\nbody\r\n");
        var envelope = EnvelopeFor(body.Length, new EnvelopeRecipient("bob@mx.test", DsnNotify.Unspecified),
            new EnvelopeRecipient("ann@mx.test", DsnNotify.Unspecified));
        foreach (var server in new[] { pipelining, lockstep })
        {
            var outcomes = await OutboundSmtp.SendAsync(new IPEndPoint(IPAddress.Loopback, server.Port), "relay.test", envelope,
                () => new MemoryStream(body), SmtpClientTimeouts.Default, TestContext.Current.CancellationToken);
            Assert.All(outcomes, o => Assert.Equal(250, o.Reply.Code));
            Assert.Single(server.Messages);
        }

        // RFC 2920: MAIL and each RCPT were read with the rest of the group behind them; DATA ends the group (its 354 comes first).
        string[] Verbs(ScriptedSmtpServer s, bool waiting) =>
            s.Arrivals.Where(a => a.MoreWaiting == waiting).Select(a => a.Command.Split(' ')[0]).ToArray();
        Assert.Equal(["MAIL", "RCPT", "RCPT"], Verbs(pipelining, true));
        Assert.Contains("DATA", Verbs(pipelining, false));
        Assert.Empty(Verbs(lockstep, true)); // no PIPELINING offered: one command, one reply, in turn
        Assert.Equal(["EHLO", "MAIL", "RCPT", "RCPT", "DATA"], Verbs(lockstep, false).Take(5));
    }

    [Fact]
    public async Task With_chunking_the_message_goes_as_one_BDAT_in_the_write_that_carries_MAIL_and_RCPT()
    {
        await using var server = new ScriptedSmtpServer(extensions: ["PIPELINING", "CHUNKING", "8BITMIME", "SIZE 10240000"]);
        var body = Encoding.UTF8.GetBytes("Subject: chunked\r\n\r\n.a dot stays as it is\r\nno final newline");
        var envelope = EnvelopeFor(body.Length, new EnvelopeRecipient("bob@mx.test", DsnNotify.Unspecified));

        var outcomes = await OutboundSmtp.SendAsync(new IPEndPoint(IPAddress.Loopback, server.Port), "relay.test", envelope,
            () => new MemoryStream(body), SmtpClientTimeouts.Default, TestContext.Current.CancellationToken);

        Assert.Equal(250, Assert.Single(outcomes).Reply.Code);
        Assert.Contains($"BDAT {body.Length + 2} LAST", server.Commands);
        Assert.DoesNotContain("DATA", server.Commands);
        var received = Assert.Single(server.Messages);
        Assert.Equal(Encoding.UTF8.GetString(body) + "\r\n", received.Data); // no dot-stuffing, the final CRLF added
    }

    [Fact]
    public async Task With_chunking_a_refused_recipient_keeps_its_reply_and_a_refused_chunk_fails_the_others()
    {
        await using var refusing = new ScriptedSmtpServer(
            (verb, _) => verb == "RCPT" ? "550 5.1.1 no such user" : null, extensions: ["PIPELINING", "CHUNKING"]);
        var body = Encoding.UTF8.GetBytes("Subject: x\r\n\r\nbody\r\n");
        var envelope = EnvelopeFor(body.Length, new EnvelopeRecipient("bob@mx.test", DsnNotify.Unspecified),
            new EnvelopeRecipient("ann@mx.test", DsnNotify.Unspecified));

        // Every recipient refused: each keeps its own reply, and the chunk is refused too.
        var outcomes = await OutboundSmtp.SendAsync(new IPEndPoint(IPAddress.Loopback, refusing.Port), "relay.test", envelope,
            () => new MemoryStream(body), SmtpClientTimeouts.Default, TestContext.Current.CancellationToken);
        Assert.All(outcomes, o => Assert.Equal(550, o.Reply.Code));
        Assert.Contains(refusing.Commands, c => c.StartsWith("BDAT ", StringComparison.Ordinal));
        Assert.Empty(refusing.Messages);

        // MAIL refused: every recipient gets its reply.
        await using var noMail = new ScriptedSmtpServer(
            (verb, _) => verb == "MAIL" ? "553 5.1.8 sender refused" : null, extensions: ["PIPELINING", "CHUNKING"]);
        var refusedMail = await OutboundSmtp.SendAsync(new IPEndPoint(IPAddress.Loopback, noMail.Port), "relay.test", envelope,
            () => new MemoryStream(body), SmtpClientTimeouts.Default, TestContext.Current.CancellationToken);
        Assert.All(refusedMail, o => Assert.Equal("5.1.8", o.Reply.Enhanced));

        // Accepted recipients, a chunk refused for now: both deferred with the chunk's reply.
        await using var full = new ScriptedSmtpServer(
            (verb, _) => verb == "DATA" ? "452 4.3.1 out of space" : null, extensions: ["PIPELINING", "CHUNKING"]);
        var deferred = await OutboundSmtp.SendAsync(new IPEndPoint(IPAddress.Loopback, full.Port), "relay.test", envelope,
            () => new MemoryStream(body), SmtpClientTimeouts.Default, TestContext.Current.CancellationToken);
        Assert.Equal(2, deferred.Count);
        Assert.All(deferred, o => Assert.Equal("4.3.1", o.Reply.Enhanced));
    }

    [Fact]
    public async Task With_chunking_a_large_body_still_waits_for_the_replies_and_goes_by_DATA()
    {
        await using var server = new ScriptedSmtpServer(extensions: ["PIPELINING", "CHUNKING", "SIZE 10240000"]);
        var line = "a line of text that makes the body long enough\r\n";
        var body = Encoding.ASCII.GetBytes("Subject: large\r\n\r\n" + string.Concat(Enumerable.Repeat(line, 300 * 1024 / line.Length)));
        var envelope = EnvelopeFor(body.Length, new EnvelopeRecipient("bob@mx.test", DsnNotify.Unspecified));

        var outcomes = await OutboundSmtp.SendAsync(new IPEndPoint(IPAddress.Loopback, server.Port), "relay.test", envelope,
            () => new MemoryStream(body), SmtpClientTimeouts.Default, TestContext.Current.CancellationToken);

        Assert.Equal(250, Assert.Single(outcomes).Reply.Code);
        Assert.Contains("DATA", server.Commands);
        Assert.DoesNotContain(server.Commands, c => c.StartsWith("BDAT", StringComparison.Ordinal));
        Assert.Equal(Encoding.ASCII.GetString(body), Assert.Single(server.Messages).Data);
    }
}
