using System.Text;
using Engine.Integration.Tests.Support;

namespace Engine.Integration.Tests;

public sealed class SmallLimitsFixture : IAsyncLifetime
{
    public EngineInstance Engine { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Engine = await EngineInstance.StartAsync(
        "engine.smtp.recipient-limit = 3",
        "engine.smtp.hard-error-limit = 6",
        "engine.smtp.junk-command-limit = 5",
        "engine.smtp.message-size-limit = 2048",
        "engine.smtp.text-line-limit = 1000",
        "engine.smtp.command-timeout = 2s",
        "engine.smtp.queue-timeout = 1s",
        "engine.smtp.data-timeout = 2s");

    public async ValueTask DisposeAsync() => await Engine.DisposeAsync();
}

/// <summary>Bad input over real TCP: each gets its protocol reply, is logged, and the node goes on.</summary>
public sealed class BadInputSpecs(SmallLimitsFixture fixture) : IClassFixture<SmallLimitsFixture>
{
    private EngineInstance Engine => fixture.Engine;

    private async Task<RawSmtp> TransactionAsync(int recipients = 1)
    {
        var smtp = await RawSmtp.GreetedAsync(Engine.Port);
        Assert.Equal(250, (await smtp.CommandAsync("EHLO client.test")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<a@client.test>")).Code);
        for (var i = 0; i < recipients; i++)
            Assert.Equal(250, (await smtp.CommandAsync($"RCPT TO:<u{i}@mx.test>")).Code);
        return smtp;
    }

    private static void AssertReply(RawSmtp.Reply reply, int code, string enhanced)
    {
        Assert.True(reply.Code == code && reply.Enhanced == enhanced, $"expected {code} {enhanced}, got {reply}");
    }

    [Fact]
    public async Task Unknown_command_gets_502_5_5_2()
    {
        await using var smtp = await RawSmtp.GreetedAsync(Engine.Port);
        AssertReply(await smtp.CommandAsync("XYZZY plugh"), 502, "5.5.2");
        AssertReply(await smtp.CommandAsync("NOOP"), 250, "2.0.0");
    }

    [Fact]
    public async Task Bad_syntax_gets_501_5_5_4()
    {
        await using var smtp = await RawSmtp.GreetedAsync(Engine.Port);
        await smtp.CommandAsync("EHLO client.test");
        AssertReply(await smtp.CommandAsync("MAIL FROM"), 501, "5.5.4");
        AssertReply(await smtp.CommandAsync("MAIL FROM:<a@client.test> SIZE=-5"), 501, "5.5.4");
        AssertReply(await smtp.CommandAsync("MAIL FROM:<a@client.test> NOSUCH=1"), 555, "5.5.4");
        AssertReply(await smtp.CommandAsync("MAIL FROM:<a@@client.test>"), 501, "5.1.3");
    }

    [Fact]
    public async Task Wrong_order_gets_503_5_5_1()
    {
        await using var smtp = await RawSmtp.GreetedAsync(Engine.Port);
        AssertReply(await smtp.CommandAsync("MAIL FROM:<a@client.test>"), 503, "5.5.1"); // before EHLO
        await smtp.CommandAsync("EHLO client.test");
        AssertReply(await smtp.CommandAsync("RCPT TO:<u@mx.test>"), 503, "5.5.1");
        AssertReply(await smtp.CommandAsync("DATA"), 503, "5.5.1");
        await smtp.CommandAsync("MAIL FROM:<a@client.test>");
        AssertReply(await smtp.CommandAsync("MAIL FROM:<a@client.test>"), 503, "5.5.1");
        AssertReply(await smtp.CommandAsync("DATA"), 503, "5.5.1"); // need RCPT

        await using var second = await RawSmtp.GreetedAsync(Engine.Port); // the first is near its error limit
        await second.CommandAsync("EHLO client.test");
        await second.CommandAsync("MAIL FROM:<a@client.test>");
        AssertReply(await second.CommandAsync("RCPT TO:<jöhn@mx.test>"), 553, "5.6.7"); // refused: no SMTPUTF8
        AssertReply(await second.CommandAsync("DATA"), 554, "5.5.1"); // no valid recipients
    }

    [Fact]
    public async Task Junk_commands_past_the_limit_count_as_errors_until_421()
    {
        await using var smtp = await RawSmtp.GreetedAsync(Engine.Port);
        for (var i = 0; i < 5; i++)
            AssertReply(await smtp.CommandAsync("NOOP"), 250, "2.0.0");
        // Past the junk limit the same replies count as errors; the sixth error ends the session.
        for (var i = 0; i < 5; i++)
            AssertReply(await smtp.CommandAsync(i % 2 == 0 ? "NOOP" : "RSET"), 250, "2.0.0");
        await smtp.SendAsync("NOOP\r\n");
        AssertReply(await smtp.ReadAsync(), 250, "2.0.0");
        AssertReply(await smtp.ReadAsync(), 421, "4.7.0");
        Assert.True(await smtp.IsClosedAsync());
    }

    [Fact]
    public async Task A_long_pipelined_burst_is_answered_in_order()
    {
        // More commands than the connection lets wait for the session at once: the reader pauses, nothing is lost.
        await using var smtp = await RawSmtp.GreetedAsync(Engine.Port);
        await smtp.SendAsync(string.Concat(Enumerable.Range(0, 300).Select(i => $"EHLO client{i}.test\r\n")) + "QUIT\r\n");
        for (var i = 0; i < 300; i++)
        {
            var ehlo = await smtp.ReadAsync();
            Assert.Equal(250, ehlo.Code);
        }
        AssertReply(await smtp.ReadAsync(), 221, "2.0.0");
    }

    [Fact]
    public async Task Command_line_over_512_octets_gets_500_5_5_2_and_the_session_goes_on()
    {
        await using var smtp = await RawSmtp.GreetedAsync(Engine.Port);
        AssertReply(await smtp.CommandAsync("NOOP " + new string('x', 600)), 500, "5.5.2");
        AssertReply(await smtp.CommandAsync("HELO " + new string('h', 5000)), 500, "5.5.2");
        AssertReply(await smtp.CommandAsync("NOOP"), 250, "2.0.0");
    }

    [Fact]
    public async Task Text_line_over_the_limit_gets_500_5_5_2_at_the_end_of_data()
    {
        await using var smtp = await TransactionAsync();
        Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
        AssertReply(await smtp.CommandAsync(new string('y', 1200) + "\r\n."), 500, "5.5.2");
        AssertReply(await smtp.CommandAsync("NOOP"), 250, "2.0.0");
    }

    [Fact]
    public async Task Message_over_the_size_limit_gets_552_5_3_4_and_the_connection_stays_usable()
    {
        await using var smtp = await TransactionAsync();
        AssertReply(await smtp.CommandAsync("MAIL FROM:<b@client.test> SIZE=999999"), 503, "5.5.1"); // nested
        Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
        var big = string.Concat(Enumerable.Repeat(new string('z', 78) + "\r\n", 60));
        AssertReply(await smtp.CommandAsync(big + "."), 552, "5.3.4");

        // The declared size is refused at MAIL, and after both the session still delivers.
        AssertReply(await smtp.CommandAsync("MAIL FROM:<a@client.test> SIZE=999999"), 552, "5.3.4");
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<a@client.test> SIZE=20")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<u@mx.test>")).Code);
        Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
        var ok = await smtp.CommandAsync("Subject: small\r\n\r\nok\r\n.");
        AssertReply(ok, 250, "2.0.0");
        Assert.Contains("queued as", ok.Last);
        await Engine.Logs.WaitForAsync(l => l.Contains("reject: END-OF-MESSAGE", StringComparison.Ordinal) && l.Contains("552 5.3.4", StringComparison.Ordinal));
    }

    [Fact]
    public async Task More_recipients_than_the_limit_get_452_4_5_3()
    {
        await using var smtp = await TransactionAsync(recipients: 3);
        AssertReply(await smtp.CommandAsync("RCPT TO:<u9@mx.test>"), 452, "4.5.3");
        Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
        var reply = await smtp.CommandAsync("Subject: three\r\n\r\nx\r\n.");
        var queued = await Engine.QueuedAsync(reply.Last.Split(' ')[^1]);
        Assert.Equal(3, queued.Envelope.Recipients.Count);
    }

    [Fact]
    public async Task Too_many_errors_get_421_and_the_connection_is_closed()
    {
        await using var smtp = await RawSmtp.GreetedAsync(Engine.Port);
        for (var i = 0; i < 5; i++)
            AssertReply(await smtp.CommandAsync("BOGUS"), 502, "5.5.2");
        await smtp.SendAsync("BOGUS\r\n");
        AssertReply(await smtp.ReadAsync(), 502, "5.5.2");
        AssertReply(await smtp.ReadAsync(), 421, "4.7.0");
        Assert.True(await smtp.IsClosedAsync());
        await Engine.Logs.WaitForAsync(l => l.StartsWith("too many errors after", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_client_that_resets_the_connection_is_logged_as_lost_and_the_server_goes_on()
    {
        var smtp = await RawSmtp.GreetedAsync(Engine.Port);
        Assert.Equal(250, (await smtp.CommandAsync("EHLO reset.example")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<a@client.test>")).Code);
        smtp.Reset();
        await Engine.Logs.WaitForAsync(l => l.StartsWith("lost connection (Connection reset by peer) after MAIL", StringComparison.Ordinal));
        await smtp.DisposeAsync();
        await using var next = await RawSmtp.GreetedAsync(Engine.Port);
        Assert.Equal(250, (await next.CommandAsync("EHLO after.example")).Code);
    }

    [Fact]
    public async Task Idle_client_times_out_with_421_4_4_2()
    {
        await using var smtp = await RawSmtp.GreetedAsync(Engine.Port);
        var reply = await smtp.ReadAsync(TimeSpan.FromSeconds(10));
        AssertReply(reply, 421, "4.4.2");
        Assert.True(await smtp.IsClosedAsync());
    }

    [Fact]
    public async Task Slow_client_that_never_finishes_a_line_times_out()
    {
        await using var smtp = await RawSmtp.GreetedAsync(Engine.Port);
        var started = DateTime.UtcNow;
        // One octet every 300 ms: each read is quick, but the line never completes within 2 s.
        try
        {
            while (DateTime.UtcNow - started < TimeSpan.FromSeconds(4))
            {
                await smtp.SendAsync("N"u8.ToArray());
                await Task.Delay(300, TestContext.Current.CancellationToken);
            }
        }
        catch (IOException)
        {
            // closed by the server: expected
        }
        AssertReply(await smtp.ReadAsync(TimeSpan.FromSeconds(5)), 421, "4.4.2");
        await Engine.Logs.WaitForAsync(l => l.StartsWith("timeout after", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Client_that_stalls_in_data_times_out()
    {
        await using var smtp = await TransactionAsync();
        Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
        await smtp.SendAsync("Subject: stall\r\n\r\nhalf a mess");
        AssertReply(await smtp.ReadAsync(TimeSpan.FromSeconds(10)), 421, "4.4.2");
        Assert.True(await smtp.IsClosedAsync());
    }

    [Theory]
    [InlineData("\n.\n")]
    [InlineData("\r.\r")]
    [InlineData("\n.\r\n")]
    [InlineData("\r\n.\n")]
    public async Task Smuggled_end_of_data_is_text_and_the_message_is_refused(string smuggle)
    {
        var before = (await Engine.QueueAsync()).Count;
        await using var smtp = await TransactionAsync();
        Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
        // If the server ended DATA at the smuggled dot, it would answer the hidden MAIL/RCPT/DATA too.
        await smtp.SendAsync($"Subject: s\r\n\r\nhi{smuggle}MAIL FROM:<evil@client.test>\r\nRCPT TO:<victim@mx.test>\r\nDATA\r\nspoofed\r\n.\r\n");
        AssertReply(await smtp.ReadAsync(), 550, "5.5.2");
        AssertReply(await smtp.CommandAsync("NOOP"), 250, "2.0.0");
        Assert.Equal(before, (await Engine.QueueAsync()).Count);
        Assert.DoesNotContain(await Engine.QueueAsync(), m => m.Envelope.Sender == "evil@client.test");
    }

    [Fact]
    public async Task Random_bytes_never_crash_the_node()
    {
        var logged = Engine.Logs.Lines.Count;
        var random = new Random(2026);
        for (var i = 0; i < 20; i++)
        {
            await using var smtp = await RawSmtp.GreetedAsync(Engine.Port);
            var garbage = new byte[random.Next(1, 8192)];
            random.NextBytes(garbage);
            try
            {
                await smtp.SendAsync(garbage);
                await smtp.SendAsync("\r\nQUIT\r\n");
                await smtp.IsClosedAsync(TimeSpan.FromSeconds(10));
            }
            catch (IOException)
            {
                // The server may close first (too many errors): that is an answer too.
            }
        }
        // Binary garbage as a message's content: refused or queued, with a reply, and the session goes on.
        for (var i = 0; i < 10; i++)
        {
            await using var smtp = await RawSmtp.GreetedAsync(Engine.Port);
            Assert.Equal(250, (await smtp.CommandAsync("EHLO client.test")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<a@client.test>")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<u@mx.test>")).Code);
            Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
            var garbage = new byte[random.Next(1, 1500)]; // under the fixture's 2,048-octet size limit
            random.NextBytes(garbage);
            await smtp.SendAsync(garbage);
            var reply = await smtp.CommandAsync("\r\n.");
            Assert.True(reply.Code is 250 or (>= 500 and < 600), $"garbage in DATA got {reply}");
            AssertReply(await smtp.CommandAsync("NOOP"), 250, "2.0.0");
        }
        await using var after = await RawSmtp.GreetedAsync(Engine.Port);
        AssertReply(await after.CommandAsync("NOOP"), 250, "2.0.0");
        // Nothing threw on the way: no error from Akka (an actor's crash) and no exception in the engine's lines.
        Assert.DoesNotContain(Engine.Logs.Lines.Skip(logged),
            l => l.StartsWith("error in ", StringComparison.Ordinal) || l.Contains("Exception", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_message_with_more_received_lines_than_the_hop_limit_is_refused_as_a_loop()
    {
        await using var smtp = await RawSmtp.GreetedAsync(Engine.Port);
        await smtp.CommandAsync("EHLO client.test");
        await smtp.CommandAsync("MAIL FROM:<a@client.test>");
        await smtp.CommandAsync("RCPT TO:<user@mx.test>");
        Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
        var looped = string.Concat(Enumerable.Range(0, 51).Select(i => $"Received: from relay{i}.test by relay{i + 1}.test; Sat, 28 Nov 2026 12:00:00 +0000\r\n"));
        var reply = await smtp.CommandAsync(looped + "Subject: round and round\r\n\r\nx\r\n.");
        Assert.Equal((554, "5.4.6"), (reply.Code, reply.Enhanced));
        Assert.Equal(250, (await smtp.CommandAsync("NOOP")).Code); // the session goes on
    }

    [Fact]
    public async Task Null_sender_and_bare_postmaster_are_accepted()
    {
        await using var smtp = await RawSmtp.GreetedAsync(Engine.Port);
        await smtp.CommandAsync("EHLO client.test");
        AssertReply(await smtp.CommandAsync("MAIL FROM:<>"), 250, "2.1.0");
        AssertReply(await smtp.CommandAsync("RCPT TO:<Postmaster>"), 250, "2.1.5");
        Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
        var reply = await smtp.CommandAsync("Subject: bounce\r\n\r\nx\r\n.");
        var queued = await Engine.QueuedAsync(reply.Last.Split(' ')[^1]);
        Assert.Equal("", queued.Envelope.Sender);
        Assert.Equal("postmaster@mx.test", Assert.Single(queued.Envelope.Recipients).Address);
    }

    [Fact]
    public async Task Ehlo_names_every_extension_the_server_has()
    {
        await using var smtp = await RawSmtp.GreetedAsync(Engine.Port);
        var ehlo = await smtp.CommandAsync("EHLO client.test");
        Assert.Equal(250, ehlo.Code);
        var keywords = ehlo.Lines.Skip(1).Select(l => l[4..]).ToArray(); // "250-" or "250 ", after the greeting line
        foreach (var keyword in (string[])["PIPELINING", "SIZE 2048", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING", "DSN"])
            Assert.Contains(keyword, keywords);
    }

    [Fact]
    public async Task A_message_leaves_its_connect_client_queued_and_disconnect_lines_in_the_maillog()
    {
        const string body = "Subject: maillog\r\n\r\nline\r\n..stuffed\r\n";
        string id;
        await using (var smtp = await RawSmtp.GreetedAsync(Engine.Port))
        {
            Assert.Equal(250, (await smtp.CommandAsync("EHLO client.test")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<maillog@client.test>")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<u1@mx.test>")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<u2@mx.test>")).Code);
            Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
            var reply = await smtp.CommandAsync(body + ".");
            Assert.Equal(250, reply.Code);
            id = reply.Last.Split(' ')[^1];
            Assert.Equal(221, (await smtp.CommandAsync("QUIT")).Code);
        }
        // Postfix's size=: the message as queued, with the Received: header the server put on top, the stuffed dot removed.
        var stored = Engine.Body(await Engine.QueuedAsync(id));
        Assert.EndsWith(body.Replace("\r\n..", "\r\n.", StringComparison.Ordinal), Encoding.ASCII.GetString(stored));
        var size = stored.Length;
        await Engine.Logs.WaitForAsync(l => l == $"{id}: from=<maillog@client.test>, size={size}, nrcpt=2 (queue incoming)");
        var client = await Engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: client=", StringComparison.Ordinal));
        Assert.EndsWith("[127.0.0.1]", client);
        await Engine.Logs.WaitForAsync(l => l == "connect from " + client[$"{id}: client=".Length..]);
        await Engine.Logs.WaitForAsync(l => l.StartsWith("disconnect from " + client[$"{id}: client=".Length..] + " ", StringComparison.Ordinal)
            && l.Contains(" rcpt=2 data=1 ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Vrfy_help_and_rset_answer_with_enhanced_codes()
    {
        await using var smtp = await RawSmtp.GreetedAsync(Engine.Port);
        AssertReply(await smtp.CommandAsync("VRFY root"), 252, "2.0.0");
        AssertReply(await smtp.CommandAsync("HELP"), 214, "2.0.0");
        AssertReply(await smtp.CommandAsync("RSET"), 250, "2.0.0");
        var ehlo = await smtp.CommandAsync("EHLO client.test");
        Assert.Contains("250-SIZE 2048", ehlo.Lines);
        Assert.Contains("250-PIPELINING", ehlo.Lines);
        AssertReply(await smtp.CommandAsync("QUIT"), 221, "2.0.0");
    }
}
