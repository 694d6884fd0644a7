using System.Net.Sockets;
using System.Text;
using Engine.Integration.Tests.Support;
using Engine.Tests.Shared;

namespace Engine.Integration.Tests;

/// <summary>
/// Replays every transcript under Transcripts/Pop3 and Transcripts/Imap against a real engine over TCP: the
/// client's octets written whole, and written one octet at a time. The server's lines must be the
/// transcript's "&lt; " lines (a line ending in "*" matches any rest), up to the close after QUIT or LOGOUT.
/// </summary>
public sealed class AccessTranscriptSpecs
{
    public static TheoryData<string, string, bool> Transcripts()
    {
        var data = new TheoryData<string, string, bool>();
        foreach (var protocol in (string[])["Pop3", "Imap"])
        {
            foreach (var file in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Transcripts", protocol), "*.txt").Order())
            {
                data.Add(protocol, Path.GetFileName(file), false);
                data.Add(protocol, Path.GetFileName(file), true);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Transcripts))]
    public async Task Transcript_gives_the_expected_lines(string protocol, string name, bool byteAtATime)
    {
        var lines = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Transcripts", protocol, name));
        var input = lines.Where(l => l.StartsWith("> ", StringComparison.Ordinal)).SelectMany(l => Escapes.Unescape(l[2..])).ToArray();
        var expected = lines.Where(l => l.StartsWith("< ", StringComparison.Ordinal) || l == "<").Select(l => l.Length > 2 ? l[2..] : "").ToArray();

        await using var engine = await Accounts.WithMailAsync($"{protocol.ToLowerInvariant()}-{Path.GetFileNameWithoutExtension(name)}",
            "Subject: one\r\n\r\nfirst", "Subject: two\r\n\r\n..dot\r\nsecond");
        using var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync("127.0.0.1", protocol == "Imap" ? engine.ImapPort : engine.Pop3Port, TestContext.Current.CancellationToken);
        var stream = client.GetStream();
        var reading = ReadAllAsync(stream);
        if (byteAtATime)
        {
            foreach (var b in input)
                await stream.WriteAsync(new[] { b }, TestContext.Current.CancellationToken);
        }
        else
        {
            await stream.WriteAsync(input, TestContext.Current.CancellationToken);
        }
        var actual = await reading;

        Assert.True(expected.Length == actual.Count, $"{actual.Count} lines, expected {expected.Length}:\n{string.Join("\n", actual)}");
        for (var i = 0; i < expected.Length; i++)
        {
            var ok = expected[i].EndsWith('*') ? actual[i].StartsWith(expected[i][..^1], StringComparison.Ordinal) : actual[i] == expected[i];
            Assert.True(ok, $"line {i + 1}: expected '{expected[i]}', got '{actual[i]}'");
        }
    }

    /// <summary>The server's lines until it closes the connection.</summary>
    private static async Task<List<string>> ReadAllAsync(Stream stream)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var bytes = new MemoryStream();
        var buffer = new byte[4096];
        int read;
        while ((read = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            bytes.Write(buffer, 0, read);
        var text = Encoding.UTF8.GetString(bytes.ToArray());
        Assert.EndsWith("\r\n", text);
        return text[..^2].Split("\r\n").ToList();
    }

    [Fact]
    public void Every_transcript_is_found()
    {
        Assert.True(Transcripts().Count >= 20, "the transcripts were not copied to the output folder");
    }
}
