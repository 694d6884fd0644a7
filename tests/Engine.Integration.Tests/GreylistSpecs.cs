using Engine.Integration.Tests.Support;

namespace Engine.Integration.Tests;

/// <summary>
/// Greylisting end to end with two engine nodes sharing their journal: the first try through one node is
/// deferred, the retry through the other passes; a restart keeps the triplets; a network whose triplets
/// passed often enough is let through at once. The delay is 0 s by configuration, so nothing sleeps.
/// </summary>
public sealed class GreylistSpecs
{
    private static async Task<RawSmtp.Reply> RcptAsync(EngineInstance engine, string from, string sender, string recipient)
    {
        await using var smtp = await RawSmtp.GreetedAsync(engine.Port, from);
        await smtp.CommandAsync("EHLO client.test");
        await smtp.CommandAsync($"MAIL FROM:<{sender}>");
        return await smtp.CommandAsync($"RCPT TO:<{recipient}>");
    }

    [Fact]
    public async Task A_retry_through_another_node_passes_a_restart_keeps_the_triplets_and_busy_networks_are_allowed()
    {
        var dataDir = Accounts.WithJane("greylist");
        string[] settings = ["engine.greylist.delay = 0s", "engine.greylist.auto-allow-after = 2", "engine.greylist.buckets = 8",
            "engine.smtp.mynetworks = []", "engine.smtp.restrictions.recipient = [reject_unauth_destination, check_greylist]"];
        var (first, second) = await EngineInstance.StartTwoAsync(dataDir, settings);
        await using (first)
        await using (second)
        {
            var deferred = await RcptAsync(first, "127.0.0.2", "a@client.test", "jane@campus.test");
            Assert.Equal("450 4.2.0 <jane@campus.test>: Recipient address rejected: Greylisted, try again in 0 seconds", deferred.Last);
            Assert.Equal(250, (await RcptAsync(second, "127.0.0.2", "a@client.test", "jane@campus.test")).Code); // the retry, through the other node
            Assert.Equal(250, (await RcptAsync(first, "127.0.0.2", "a@client.test", "jane@campus.test")).Code);
            // The allow-list shipped: postmaster@ is never greylisted.
            Assert.Equal(250, (await RcptAsync(second, "127.0.1.9", "b@client.test", "postmaster@mx.test")).Code);
            await first.Logs.WaitForAsync(l => l.StartsWith("NOQUEUE: reject: RCPT from unknown[127.0.0.2]: 450 4.2.0", StringComparison.Ordinal));
        }

        await using var restarted = await EngineInstance.StartInAsync(dataDir, settings);
        Assert.Equal(250, (await RcptAsync(restarted, "127.0.0.3", "a@client.test", "jane@campus.test")).Code); // same /24, same triplet
        Assert.Equal(450, (await RcptAsync(restarted, "127.0.0.3", "c@client.test", "jane@campus.test")).Code); // a new one
        Assert.Equal(250, (await RcptAsync(restarted, "127.0.0.3", "c@client.test", "jane@campus.test")).Code); // its second pass for 127.0.0/24
        // The pass count travels to the network's bucket after the answer: new triplets of the network pass as soon as it lands.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        for (var i = 0; (await RcptAsync(restarted, "127.0.0.4", $"d{i}@client.test", "jane@campus.test")).Code != 250; i++)
            Assert.True(DateTime.UtcNow < deadline, "the network was not allowed after two passes");
        Assert.Equal(450, (await RcptAsync(restarted, "127.0.1.4", "d@client.test", "jane@campus.test")).Code); // another network
    }
}
