using System.Diagnostics;
using System.Text;
using Engine.Integration.Tests.Support;

namespace Engine.Integration.Tests;

/// <summary>
/// Brute-force defence: fifty wrong passwords from one address are slowed, then refused without a look at the
/// password on every protocol, while another address logs in to the same account as usual.
/// </summary>
public sealed class BruteForceSpecs
{
    [Fact]
    public async Task Fifty_wrong_passwords_from_one_address_are_slowed_then_blocked_while_another_address_logs_in()
    {
        await using var engine = await Accounts.WithSettingsAsync("brute-force", ["engine.auth.guard.delay-step = 100ms",
            "engine.imap.auth-failure-delay = 0s", "engine.imap.max-auth-failures = 100", "engine.smtp.tls-auth-only = off",
            "engine.smtp.auth-failure-delay = 0s"], "Subject: x\r\n\r\nx");
        using var attacker = await RawImap.GreetedAsync(engine.ImapPort, from: "127.0.0.2");
        var replies = new List<string>();
        var times = new List<TimeSpan>();
        for (var i = 0; i < 50; i++)
        {
            var clock = Stopwatch.StartNew();
            var reply = await attacker.ExchangeAsync($"a{i} LOGIN jane@campus.test \"guess {i}\"\r\n", $"a{i}");
            times.Add(clock.Elapsed);
            replies.Add(reply.TrimEnd().Split('\n')[^1]);
        }
        // Ten failures are checked (each waiting longer), then the address is refused without a check.
        Assert.All(replies.Take(10), r => Assert.Contains("NO [AUTHENTICATIONFAILED]", r));
        Assert.All(replies.Skip(10), r => Assert.Contains("NO [UNAVAILABLE] Too many failed logins", r));
        Assert.True(times[9] - times[0] >= TimeSpan.FromMilliseconds(700), $"not slowed: {times[0]} then {times[9]}");
        Assert.Contains("NO [UNAVAILABLE]", await attacker.ExchangeAsync($"b LOGIN jane@campus.test \"{Accounts.Password}\"\r\n", "b")); // even right

        // The block holds on every protocol for that address.
        using (var pop3 = new System.Net.Sockets.TcpClient(new System.Net.IPEndPoint(System.Net.IPAddress.Parse("127.0.0.2"), 0)))
        {
            await pop3.ConnectAsync("127.0.0.1", engine.Pop3Port, TestContext.Current.CancellationToken);
            var reader = new StreamReader(pop3.GetStream());
            await pop3.GetStream().WriteAsync("USER jane@campus.test\r\nPASS x\r\n"u8.ToArray(), TestContext.Current.CancellationToken);
            string?[] lines = [await reader.ReadLineAsync(), await reader.ReadLineAsync(), await reader.ReadLineAsync()];
            Assert.StartsWith("-ERR [SYS/TEMP] Too many failed logins", lines[2], StringComparison.Ordinal);
        }
        await using (var smtp = await RawSmtp.GreetedAsync(engine.Port, from: "127.0.0.2"))
        {
            await smtp.CommandAsync("EHLO client.test");
            var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0jane@campus.test\0{Accounts.Password}"));
            var reply = await smtp.CommandAsync("AUTH PLAIN " + plain);
            Assert.Equal((421, "4.7.0"), (reply.Code, reply.Enhanced));
        }

        // Another address logs in to the same account at once (its ten failures are far from the account's limit).
        using var user = await RawImap.GreetedAsync(engine.ImapPort, from: "127.0.0.1");
        var clock2 = Stopwatch.StartNew();
        Assert.Contains("c OK", await user.ExchangeAsync($"c LOGIN jane@campus.test \"{Accounts.Password}\"\r\n", "c"));
        Assert.True(clock2.Elapsed < TimeSpan.FromSeconds(2), clock2.Elapsed.ToString());
        Assert.DoesNotContain(engine.Logs.Lines, l => l.Contains("guess", StringComparison.Ordinal) || l.Contains(Accounts.Password, StringComparison.Ordinal));
    }
}
