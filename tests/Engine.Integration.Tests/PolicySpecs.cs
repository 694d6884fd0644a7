using Engine.Integration.Tests.Support;

namespace Engine.Integration.Tests;

/// <summary>Acceptance policy and connection limits, each on an engine of its own.</summary>
public sealed class PolicySpecs
{
    [Fact]
    public async Task Relay_is_denied_to_clients_outside_mynetworks_but_local_domains_are_accepted()
    {
        await using var engine = await EngineInstance.StartAsync("engine.smtp.mynetworks = [\"192.0.2.0/24\"]");
        await using var smtp = await RawSmtp.GreetedAsync(engine.Port);
        await smtp.CommandAsync("EHLO client.test");
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<a@client.test>")).Code);
        var denied = await smtp.CommandAsync("RCPT TO:<victim@elsewhere.example>");
        Assert.Equal(554, denied.Code);
        Assert.Equal("5.7.1", denied.Enhanced);
        Assert.Contains("Relay access denied", denied.Last);
        Assert.Equal(554, (await smtp.CommandAsync("RCPT TO:<user%elsewhere.example@[127.0.0.1]>")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<user@MX.test>")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<user@local.test>")).Code);
        await engine.Logs.WaitForAsync(l => l.Contains("reject: RCPT from unknown[127.0.0.1]: 554 5.7.1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Clients_in_mynetworks_may_relay()
    {
        await using var engine = await EngineInstance.StartAsync();
        await using var smtp = await RawSmtp.GreetedAsync(engine.Port);
        await smtp.CommandAsync("EHLO client.test");
        await smtp.CommandAsync("MAIL FROM:<a@client.test>");
        Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<someone@elsewhere.example>")).Code);
    }

    [Fact]
    public async Task Connections_over_the_total_or_per_address_limit_get_421_4_7_0()
    {
        await using var engine = await EngineInstance.StartAsync(
            "engine.smtp.max-connections = 4", "engine.smtp.max-connections-per-ip = 2");
        var open = new List<RawSmtp>
        {
            await RawSmtp.GreetedAsync(engine.Port, "127.0.0.1"),
            await RawSmtp.GreetedAsync(engine.Port, "127.0.0.1"),
        };
        await using (var third = await RawSmtp.ConnectAsync(engine.Port, "127.0.0.1"))
        {
            var reply = await third.ReadAsync();
            Assert.Equal(421, reply.Code);
            Assert.Equal("4.7.0", reply.Enhanced);
            Assert.True(await third.IsClosedAsync());
        }
        open.Add(await RawSmtp.GreetedAsync(engine.Port, "127.0.0.2"));
        open.Add(await RawSmtp.GreetedAsync(engine.Port, "127.0.0.3"));
        await using (var fifth = await RawSmtp.ConnectAsync(engine.Port, "127.0.0.4"))
        {
            var reply = await fifth.ReadAsync();
            Assert.Equal(421, reply.Code);
            Assert.Equal("4.7.0", reply.Enhanced);
        }
        // When one leaves, a new client gets in.
        Assert.Equal(221, (await open[0].CommandAsync("QUIT")).Code);
        Assert.True(await open[0].IsClosedAsync());
        var deadline = DateTime.UtcNow.AddSeconds(10);
        RawSmtp.Reply? greeting = null;
        while (DateTime.UtcNow < deadline)
        {
            await using var again = await RawSmtp.ConnectAsync(engine.Port, "127.0.0.5");
            greeting = await again.ReadAsync();
            if (greeting.Code == 220)
                break;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        Assert.Equal(220, greeting!.Code);
        foreach (var smtp in open)
            await smtp.DisposeAsync();
    }

    [Fact]
    public async Task A_client_that_stops_reading_is_closed_and_its_slot_given_back()
    {
        await using var engine = await EngineInstance.StartAsync(
            "engine.smtp.max-connections-per-ip = 1", "engine.smtp.command-timeout = 2s", "engine.smtp.queue-timeout = 1s");
        using var stuck = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp)
        {
            ReceiveBufferSize = 4096,
        };
        await stuck.ConnectAsync(System.Net.IPAddress.Loopback, engine.Port);
        // Megabytes of replies that are never read: the server's writes block, then time out.
        var flood = System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("EHLO a\r\n", 40_000)));
        var sending = Task.Run(async () =>
        {
            try
            {
                await stuck.SendAsync(flood, System.Net.Sockets.SocketFlags.None);
            }
            catch (System.Net.Sockets.SocketException)
            {
                // closed by the server
            }
        });

        var deadline = DateTime.UtcNow.AddSeconds(30);
        var code = 0;
        while (DateTime.UtcNow < deadline && code != 220)
        {
            await using var next = await RawSmtp.ConnectAsync(engine.Port);
            code = (await next.ReadAsync()).Code;
            if (code != 220)
                await Task.Delay(250, TestContext.Current.CancellationToken);
        }
        Assert.Equal(220, code);
        await engine.Logs.WaitForAsync(l => l.StartsWith("disconnect from", StringComparison.Ordinal));
        stuck.Dispose();
        await sending;
    }
}
