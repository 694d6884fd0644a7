using System.Net;
using System.Text;
using Engine.Integration.Tests.Support;
using Engine.Network;
using Microsoft.Extensions.DependencyInjection;

namespace Engine.Integration.Tests;

/// <summary>
/// The brute-force guard and the submission rates hold across the cluster: what one node counts, the other
/// counts too, so a guesser or a sender gains nothing by moving to another node of the farm.
/// </summary>
public sealed class SharedLimitsSpecs
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Failed_logins_and_mail_sent_on_one_node_count_on_the_other()
    {
        var dataDir = Accounts.WithJane("shared-limits");
        Accounts.DirectoryOf(dataDir).SetPassword("jane@campus.test", Engine.Storage.Accounts.PasswordHasher.Hash(Accounts.Password, Accounts.TestCost));
        var (first, second) = await EngineInstance.StartTwoAsync(dataDir, ["engine.auth.guard.delay-step = 10ms", "engine.imap.auth-failure-delay = 0s",
            "engine.imap.max-auth-failures = 100", "engine.smtp.tls-auth-only = off", "engine.submission.message-rate-limit = 2"]);
        await using var firstNode = first;
        await using var secondNode = second;
        var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0jane@campus.test\0{Accounts.Password}"));
        await BarrierAsync(first, second, "127.0.0.250"); // the nodes' pub-sub has met

        // Jane sends her two messages' worth through the first node.
        await using (var smtp = await RawSmtp.GreetedAsync(first.Port))
        {
            await smtp.CommandAsync("EHLO laptop.test");
            Assert.Equal(235, (await smtp.CommandAsync("AUTH PLAIN " + plain)).Code);
            for (var i = 0; i < 2; i++)
            {
                Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<jane@campus.test>")).Code);
                await smtp.CommandAsync("RSET");
            }
        }

        // A guesser uses up its ten tries on the first node.
        using (var attacker = await RawImap.GreetedAsync(first.ImapPort, from: "127.0.0.2"))
        {
            for (var i = 0; i < 10; i++)
                Assert.Contains("NO [AUTHENTICATIONFAILED]", await attacker.ExchangeAsync($"a{i} LOGIN jane@campus.test \"guess {i}\"\r\n", $"a{i}"));
        }

        // The second node learns of it (the changes travel after the fact) and refuses the address, even with the right password.
        var guard = second.Services.GetRequiredService<LoginGuard>();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!guard.Check(IPAddress.Parse("127.0.0.2"), null).Blocked)
        {
            Assert.True(DateTime.UtcNow < deadline, "the second node never heard of the failures on the first");
            await Task.Delay(50, Ct);
        }
        using (var attacker = await RawImap.GreetedAsync(second.ImapPort, from: "127.0.0.2"))
            Assert.Contains("NO [UNAVAILABLE]", await attacker.ExchangeAsync($"b LOGIN jane@campus.test \"{Accounts.Password}\"\r\n", "b"));
        await using (var smtp = await RawSmtp.GreetedAsync(second.Port, from: "127.0.0.2"))
        {
            await smtp.CommandAsync("EHLO client.test");
            var refused = await smtp.CommandAsync("AUTH PLAIN " + plain);
            Assert.Equal((421, "4.7.0"), (refused.Code, refused.Enhanced));
        }

        // Another address logs in on the second node as usual, and Jane's third message there is one too many.
        using (var user = await RawImap.GreetedAsync(second.ImapPort, from: "127.0.0.3"))
            Assert.Contains("c OK", await user.ExchangeAsync($"c LOGIN jane@campus.test \"{Accounts.Password}\"\r\n", "c"));
        await using (var smtp = await RawSmtp.GreetedAsync(second.Port, from: "127.0.0.3"))
        {
            await smtp.CommandAsync("EHLO laptop.test");
            Assert.Equal(235, (await smtp.CommandAsync("AUTH PLAIN " + plain)).Code);
            Assert.Equal("450 4.7.1 Error: too much mail from user jane@campus.test; try again later",
                (await smtp.CommandAsync("MAIL FROM:<jane@campus.test>")).Last);
        }
    }

    /// <summary>
    /// Waits until <paramref name="other"/> has every count change <paramref name="node"/> published so far: a failed
    /// login published after them (one node's changes travel in order) shows in the other's guard. Until the
    /// nodes' pub-sub registries have met (gossip, about a second after joining) changes are lost, so the
    /// marker is sent again until one arrives.
    /// </summary>
    private static async Task BarrierAsync(EngineInstance node, EngineInstance other, string marker)
    {
        var guard = other.Services.GetRequiredService<LoginGuard>();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (guard.Check(IPAddress.Parse(marker), null).Delay == TimeSpan.Zero)
        {
            Assert.True(DateTime.UtcNow < deadline, "the count changes did not reach the other node");
            using (var imap = await RawImap.GreetedAsync(node.ImapPort, from: marker))
                Assert.Contains("NO", await imap.ExchangeAsync("m LOGIN nobody@campus.test wrong\r\n", "m"));
            for (var i = 0; i < 10 && guard.Check(IPAddress.Parse(marker), null).Delay == TimeSpan.Zero; i++)
                await Task.Delay(50, Ct);
        }
    }

    [Fact]
    public async Task Client_connection_and_message_rates_are_counted_across_the_nodes()
    {
        var dataDir = Accounts.WithJane("shared-client-rates");
        var (first, second) = await EngineInstance.StartTwoAsync(dataDir, ["engine.smtp.mynetworks = []", "engine.smtp.client-connection-rate-limit = 2",
            "engine.smtp.client-message-rate-limit = 2", "engine.auth.guard.delay-step = 10ms", "engine.imap.auth-failure-delay = 0s"]);
        await using var firstNode = first;
        await using var secondNode = second;
        await BarrierAsync(first, second, "127.0.0.250");

        for (var i = 0; i < 2; i++)
        {
            await using var smtp = await RawSmtp.GreetedAsync(first.Port, from: "127.0.0.2"); // two connections: the limit
        }
        await using (var smtp = await RawSmtp.GreetedAsync(first.Port, from: "127.0.0.3"))
        {
            await smtp.CommandAsync("EHLO client.test");
            for (var i = 0; i < 2; i++)
            {
                Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<a@client.test>")).Code);
                await smtp.CommandAsync("RSET");
            }
        }
        await BarrierAsync(first, second, "127.0.0.9");

        using (var refused = new System.Net.Sockets.TcpClient(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0)))
        {
            await refused.ConnectAsync("127.0.0.1", second.Port, Ct);
            var greeting = await new StreamReader(refused.GetStream()).ReadLineAsync(Ct);
            Assert.Equal("421 4.7.0 mx.test Error: too many connections from 127.0.0.2", greeting);
        }
        await using (var smtp = await RawSmtp.GreetedAsync(second.Port, from: "127.0.0.3")) // its third connection: within the limit
        {
            await smtp.CommandAsync("EHLO client.test");
            Assert.Equal("450 4.7.1 Error: too much mail from 127.0.0.3", (await smtp.CommandAsync("MAIL FROM:<a@client.test>")).Last);
        }
        await using (var smtp = await RawSmtp.GreetedAsync(second.Port, from: "127.0.0.4")) // another client is not held back
        {
            await smtp.CommandAsync("EHLO client.test");
            Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<a@client.test>")).Code);
        }
    }

    [Fact]
    public async Task Open_connections_from_an_address_count_on_every_node_until_they_close()
    {
        var dataDir = Accounts.WithJane("shared-open-connections");
        var (first, second) = await EngineInstance.StartTwoAsync(dataDir, ["engine.smtp.max-connections-per-ip = 2",
            "engine.auth.guard.delay-step = 10ms", "engine.imap.auth-failure-delay = 0s"]);
        await using var firstNode = first;
        await using var secondNode = second;
        await BarrierAsync(first, second, "127.0.0.250");
        var open = second.Services.GetRequiredService<Engine.Smtp.Server.ClientRates>().Open;
        var client = IPAddress.Parse("127.0.0.6");

        var held = new[] { await RawSmtp.GreetedAsync(first.Port, from: "127.0.0.6"), await RawSmtp.GreetedAsync(first.Port, from: "127.0.0.6") };
        await WaitAsync(() => open.Elsewhere(client) == 2, "the second node never heard of the first node's connections");
        using (var refused = new System.Net.Sockets.TcpClient(new IPEndPoint(client, 0)))
        {
            await refused.ConnectAsync("127.0.0.1", second.Port, Ct);
            Assert.Equal("421 4.7.0 mx.test Error: too many connections from 127.0.0.6", await new StreamReader(refused.GetStream()).ReadLineAsync(Ct));
        }
        await using (var other = await RawSmtp.GreetedAsync(second.Port, from: "127.0.0.7")) // another address is not held back
            Assert.Equal(250, (await other.CommandAsync("EHLO client.test")).Code);

        await held[0].CommandAsync("QUIT");
        await held[0].DisposeAsync();
        await WaitAsync(() => open.Elsewhere(client) == 1, "the second node never heard that a connection closed");
        await using (var again = await RawSmtp.GreetedAsync(second.Port, from: "127.0.0.6"))
            Assert.Equal(250, (await again.CommandAsync("EHLO client.test")).Code);
        await held[1].DisposeAsync();
    }

    private static async Task WaitAsync(Func<bool> condition, string failure)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(50, Ct);
        }
    }
}
