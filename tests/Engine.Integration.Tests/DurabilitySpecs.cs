using System.Text;
using Engine.Integration.Tests.Support;

namespace Engine.Integration.Tests;

/// <summary>"250" means on stable storage: a kill -9 right after the last 250 loses nothing and doubles nothing.</summary>
public sealed class DurabilitySpecs
{
    private const int Messages = 300;
    private const int Sessions = 10;

    [Fact]
    public async Task Every_message_answered_250_survives_kill_9_exactly_once_with_its_body_intact()
    {
        var dataDir = TempDir.Create("crash");
        var sent = new Dictionary<string, byte[]>();
        await using (var engine = await EngineProcess.StartAsync(dataDir))
        {
            var work = Enumerable.Range(0, Sessions).Select(async s =>
            {
                var mine = new List<(string Id, byte[] Body)>();
                await using var smtp = await RawSmtp.GreetedAsync(engine.Port);
                Assert.Equal(250, (await smtp.CommandAsync("EHLO client.test")).Code);
                for (var i = s; i < Messages; i += Sessions)
                {
                    var body = Encoding.ASCII.GetBytes($"Subject: message {i}\r\nX-Seq: {i}\r\n\r\n{new string((char)('a' + i % 26), 200 + i)}\r\n.. dot {i}\r\n");
                    // MAIL, RCPT and DATA in one PIPELINING group.
                    await smtp.SendAsync($"MAIL FROM:<sender{i}@client.test>\r\nRCPT TO:<user{i}@mx.test>\r\nDATA\r\n");
                    Assert.Equal(250, (await smtp.ReadAsync()).Code);
                    Assert.Equal(250, (await smtp.ReadAsync()).Code);
                    Assert.Equal(354, (await smtp.ReadAsync()).Code);
                    await smtp.SendAsync([.. Stuff(body), .. ".\r\n"u8.ToArray()]);
                    var reply = await smtp.ReadAsync();
                    Assert.Equal(250, reply.Code);
                    mine.Add((reply.Last.Split(' ')[^1], body));
                }
                return mine;
            }).ToArray();
            foreach (var (id, body) in (await Task.WhenAll(work)).SelectMany(m => m))
                sent.Add(id, body);
            engine.Kill(); // at once after the last 250
        }

        await using var restarted = await EngineInstance.StartInAsync(dataDir);
        var queued = await restarted.QueueAsync();
        Assert.Equal(Messages, sent.Count);
        Assert.Equal(Messages, queued.Count);
        foreach (var message in queued)
        {
            Assert.True(sent.TryGetValue(message.Id.Value, out var body), $"{message.Id} was never answered 250");
            Assert.Equal(body, restarted.BodyAsSent(message));
        }
        Assert.Equal(Messages, queued.Select(m => m.Envelope.Sender).Distinct().Count());
    }

    /// <summary>Dot-stuffing as a client must do it (RFC 5321 section 4.5.2).</summary>
    private static byte[] Stuff(byte[] body) =>
        Encoding.ASCII.GetBytes(string.Join("\r\n", Encoding.ASCII.GetString(body).Split("\r\n").Select(l => l.StartsWith('.') ? "." + l : l)));

    [Fact]
    public async Task Sigterm_lets_a_transaction_finish_closes_idle_sessions_and_keeps_the_message()
    {
        var dataDir = TempDir.Create("sigterm");
        string id;
        await using (var engine = await EngineProcess.StartAsync(dataDir, "engine.smtp.shutdown-grace = 20s"))
        {
            await using var busy = await RawSmtp.GreetedAsync(engine.Port);
            await using var idle = await RawSmtp.GreetedAsync(engine.Port);
            Assert.Equal(250, (await busy.CommandAsync("EHLO client.test")).Code);
            Assert.Equal(250, (await busy.CommandAsync("MAIL FROM:<a@client.test>")).Code);
            Assert.Equal(250, (await busy.CommandAsync("RCPT TO:<u@mx.test>")).Code);
            Assert.Equal(354, (await busy.CommandAsync("DATA")).Code);
            await busy.SendAsync("Subject: in flight\r\n\r\nfirst half\r\n");

            engine.Terminate();
            var idleReply = await idle.ReadAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(421, idleReply.Code);
            Assert.Equal("4.3.2", idleReply.Enhanced);

            await busy.SendAsync("second half\r\n.\r\n");
            var done = await busy.ReadAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(250, done.Code);
            id = done.Last.Split(' ')[^1];
            Assert.Equal(421, (await busy.ReadAsync(TimeSpan.FromSeconds(10))).Code);
            Assert.Equal(0, await engine.WaitForExitAsync(TimeSpan.FromSeconds(40)));
        }

        await using var restarted = await EngineInstance.StartInAsync(dataDir);
        var message = await restarted.QueuedAsync(id);
        Assert.Equal("Subject: in flight\r\n\r\nfirst half\r\nsecond half\r\n", Encoding.ASCII.GetString(restarted.BodyAsSent(message)));
    }
}
