using System.Net;
using Engine.Integration.Tests.Support;

namespace Engine.Integration.Tests;

/// <summary>
/// The destination entity against scripted receivers on loopback: sessions kept and reused, slow start,
/// a dead destination, opportunistic STARTTLS, and the next MX when the first will not talk.
/// </summary>
public sealed class DestinationSpecs
{
    private static async Task<string[]> SendManyAsync(int port, int count, string to)
    {
        var ids = new List<string>();
        await using var smtp = await RawSmtp.GreetedAsync(port);
        Assert.Equal(250, (await smtp.CommandAsync("EHLO client.test")).Code);
        for (var i = 0; i < count; i++)
        {
            Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<alice@client.test>")).Code);
            Assert.Equal(250, (await smtp.CommandAsync($"RCPT TO:<{to}>")).Code);
            Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
            var reply = await smtp.CommandAsync($"Subject: {i}\r\nX-Seq: {i}\r\n\r\nmessage {i}\r\n.");
            Assert.Equal(250, reply.Code);
            ids.Add(reply.Last.Split(' ')[^1]);
        }
        return [.. ids];
    }

    private static string Transport(string domain, int port) => $"engine.delivery.transport = {{ \"{domain}\" = \"smtp:[127.0.0.1]:{port}\" }}";

    private static async Task WaitAllAsync(EngineInstance engine, IEnumerable<string> ids, string what)
    {
        foreach (var id in ids)
        {
            await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=", StringComparison.Ordinal) && l.Contains(what, StringComparison.Ordinal),
                TimeSpan.FromSeconds(30));
        }
    }

    [Fact]
    public async Task Sessions_are_kept_and_used_again_with_rset_and_start_slow()
    {
        await using var server = new ScriptedSmtpServer() { DataDelay = TimeSpan.FromMilliseconds(100) };
        await using var engine = await EngineInstance.StartAsync(Transport("far.test", server.Port), "engine.delivery.connection-cache-time = 5s");

        var ids = await SendManyAsync(engine.Port, 30, "bob@far.test");
        await WaitAllAsync(engine, ids, "status=sent");

        TestContext.Current.TestOutputHelper?.WriteLine(
            $"30 messages: {server.Connections} sessions, at most {server.PeakConcurrentConnections} at once, {server.Commands.Count(c => c == "RSET")} RSET");
        Assert.Equal(30, server.Messages.Count);
        Assert.Equal(Enumerable.Range(0, 30).Select(i => $"X-Seq: {i}"),
            server.Messages.Select(m => m.Data.Split("\r\n").First(l => l.StartsWith("X-Seq:", StringComparison.Ordinal))).OrderBy(l => int.Parse(l[7..])));
        // Slow start: never more than the window allows (5 at first, growing by one per window of
        // successes), well below the limit of 20 the 30 waiting messages would otherwise take.
        Assert.InRange(server.PeakConcurrentConnections, 1, 10);
        // Reuse: far fewer sessions than messages, each used again after RSET.
        Assert.InRange(server.Connections, 1, 10);
        Assert.True(server.Commands.Count(c => c == "RSET") >= 30 - server.Connections);
        Assert.Contains(server.Messages.GroupBy(m => m.Connection), g => g.Count() > 1);
    }

    [Fact]
    public async Task Without_a_cache_time_each_message_has_a_session_of_its_own()
    {
        await using var server = new ScriptedSmtpServer();
        await using var engine = await EngineInstance.StartAsync(Transport("far.test", server.Port), "engine.delivery.connection-cache-time = 0s");
        var ids = await SendManyAsync(engine.Port, 5, "bob@far.test");
        await WaitAllAsync(engine, ids, "status=sent");
        Assert.Equal(5, server.Connections);
        Assert.DoesNotContain("RSET", server.Commands);
    }

    [Fact]
    public async Task A_next_hop_that_never_talks_is_dead_after_a_cohort_and_its_mail_is_deferred_without_trying()
    {
        await using var server = new ScriptedSmtpServer((verb, _) => verb == "CONNECT" ? "CLOSE" : null);
        await using var engine = await EngineInstance.StartAsync(Transport("mute.test", server.Port), "engine.queue.minimal-backoff = 1h");

        var ids = await SendManyAsync(engine.Port, 12, "bob@mute.test");
        await WaitAllAsync(engine, ids, "status=deferred");

        // One cohort of failures (4 once the window has shrunk), plus those the shrinking window let start meanwhile;
        // without the dead state all 12 would connect.
        Assert.InRange(server.Connections, 4, 9);
        var suspended = engine.Logs.Lines.Count(l => l.Contains("delivery temporarily suspended", StringComparison.Ordinal));
        Assert.Equal(12 - server.Connections, suspended);
    }

    [Fact]
    public async Task Starttls_is_used_when_offered_and_the_message_goes_in_plaintext_when_the_handshake_fails()
    {
        string[] withTls = ["PIPELINING", "STARTTLS", "8BITMIME"];
        await using var tls = new ScriptedSmtpServer(extensions: withTls);
        await using var broken = new ScriptedSmtpServer((verb, _) => verb == "STARTTLS" ? "220 BROKEN" : null, withTls);
        await using var engine = await EngineInstance.StartAsync(
            $"engine.delivery.transport = {{ \"tls.test\" = \"smtp:[127.0.0.1]:{tls.Port}\", \"broken.test\" = \"smtp:[127.0.0.1]:{broken.Port}\" }}");

        var viaTls = await SendManyAsync(engine.Port, 1, "bob@tls.test");
        var viaBroken = await SendManyAsync(engine.Port, 1, "bob@broken.test");
        await WaitAllAsync(engine, [.. viaTls, .. viaBroken], "status=sent");

        var secure = Assert.Single(tls.Messages);
        Assert.True(secure.Tls);
        Assert.Equal(2, tls.Commands.Count(c => c.StartsWith("EHLO", StringComparison.Ordinal))); // again after TLS (RFC 3207)
        var plain = Assert.Single(broken.Messages);
        Assert.False(plain.Tls);
        Assert.Equal(2, broken.Connections); // the failed handshake, then plaintext
    }

    [Fact]
    public async Task With_tls_none_starttls_is_never_asked()
    {
        await using var server = new ScriptedSmtpServer(extensions: ["PIPELINING", "STARTTLS"]);
        await using var engine = await EngineInstance.StartAsync(Transport("far.test", server.Port), "engine.delivery.tls = none");
        await WaitAllAsync(engine, await SendManyAsync(engine.Port, 1, "bob@far.test"), "status=sent");
        Assert.False(Assert.Single(server.Messages).Tls);
        Assert.DoesNotContain("STARTTLS", server.Commands);
    }

    [Fact]
    public async Task An_mx_host_that_greets_with_421_is_passed_over_for_the_next()
    {
        await using var busy = new ScriptedSmtpServer((verb, _) => verb == "CONNECT" ? "421 4.3.2 too busy, try another" : null,
            bind: new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
        await using var good = new ScriptedSmtpServer(bind: new IPEndPoint(IPAddress.Parse("127.0.0.3"), busy.Port));
        using var dns = await DnsServer.StartAsync("--mx-host=pair.test,mx1.pair.test,10", "--mx-host=pair.test,mx2.pair.test,20",
            "--host-record=mx1.pair.test,127.0.0.2", "--host-record=mx2.pair.test,127.0.0.3");
        await using var engine = await EngineInstance.StartAsync($"engine.delivery.dns-servers = [\"127.0.0.1:{dns.Port}\"]",
            $"engine.delivery.smtp-port = {busy.Port}");

        var id = Assert.Single(await SendManyAsync(engine.Port, 1, "bob@pair.test"));
        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<bob@pair.test>, relay=mx2.pair.test[127.0.0.3]:{busy.Port}", StringComparison.Ordinal)
                                            && l.Contains("status=sent", StringComparison.Ordinal));
        Assert.Equal(1, busy.Connections);
        Assert.Empty(busy.Messages);
        Assert.Single(good.Messages);
    }

    [Fact]
    public async Task Mail_whose_mx_is_this_node_bounces_as_a_loop_unless_a_better_mx_takes_it()
    {
        var port = Loopback.FreePort();
        await using var primary = new ScriptedSmtpServer(bind: new IPEndPoint(IPAddress.Parse("127.0.0.2"), port));
        using var dns = await DnsServer.StartAsync("--mx-host=loop.test,self.loop.test,10", "--host-record=self.loop.test,127.0.0.1",
            "--mx-host=backup.test,primary.backup.test,5", "--mx-host=backup.test,self.loop.test,10", "--host-record=primary.backup.test,127.0.0.2");
        // This node listens where loop.test's only MX points, and is backup.test's second MX.
        await using var engine = await EngineInstance.StartAsync($"engine.smtp.listen = [\"127.0.0.1:{port}\"]",
            $"engine.delivery.dns-servers = [\"127.0.0.1:{dns.Port}\"]", $"engine.delivery.smtp-port = {port}");

        var loop = Assert.Single(await SendManyAsync(port, 1, "bob@loop.test"));
        var backup = Assert.Single(await SendManyAsync(port, 1, "carol@backup.test"));

        await engine.Logs.WaitForAsync(l => l.StartsWith($"{loop}: to=<bob@loop.test>, relay=none", StringComparison.Ordinal)
                                            && l.Contains("dsn=5.4.6, status=bounced (554 5.4.6 mail for loop.test loops back to myself)", StringComparison.Ordinal));
        await engine.Logs.WaitForAsync(l => l.StartsWith($"{backup}: to=<carol@backup.test>, relay=primary.backup.test[127.0.0.2]", StringComparison.Ordinal)
                                            && l.Contains("status=sent", StringComparison.Ordinal));
        Assert.Equal(["carol@backup.test"], Assert.Single(primary.Messages).To);
    }
}
