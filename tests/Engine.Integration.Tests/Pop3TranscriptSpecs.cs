using System.Net.Sockets;
using System.Text;
using Engine.Integration.Tests.Support;
using Engine.Tests.Shared;

namespace Engine.Integration.Tests;

/// <summary>
/// Replays every transcript under Transcripts/Pop3 against a real engine over TCP: the client's octets
/// written whole, and written one octet at a time. The server's lines must be the transcript's "&lt; "
/// lines (a line ending in "*" matches any rest), up to the close after QUIT.
/// </summary>
public sealed class Pop3TranscriptSpecs
{
    public static TheoryData<string, bool> Transcripts()
    {
        var data = new TheoryData<string, bool>();
        foreach (var file in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Transcripts", "Pop3"), "*.txt").Order())
        {
            data.Add(Path.GetFileName(file), false);
            data.Add(Path.GetFileName(file), true);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Transcripts))]
    public async Task Transcript_gives_the_expected_lines(string name, bool byteAtATime)
    {
        var lines = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Transcripts", "Pop3", name));
        var input = lines.Where(l => l.StartsWith("> ", StringComparison.Ordinal)).SelectMany(l => Escapes.Unescape(l[2..])).ToArray();
        var expected = lines.Where(l => l.StartsWith("< ", StringComparison.Ordinal) || l == "<").Select(l => l.Length > 2 ? l[2..] : "").ToArray();

        await using var engine = await Accounts.WithMailAsync($"pop3-{Path.GetFileNameWithoutExtension(name)}",
            "Subject: one\r\n\r\nfirst", "Subject: two\r\n\r\n..dot\r\nsecond");
        using var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync("127.0.0.1", engine.Pop3Port, TestContext.Current.CancellationToken);
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

        Assert.Equal(expected.Length, actual.Count);
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
        var text = Encoding.ASCII.GetString(bytes.ToArray());
        Assert.EndsWith("\r\n", text);
        return text[..^2].Split("\r\n").ToList();
    }

    [Fact]
    public void Every_transcript_is_found()
    {
        Assert.True(Transcripts().Count >= 8, "the transcripts were not copied to the output folder");
    }
}
