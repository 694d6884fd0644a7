using Engine.Protocols.Smtp;
using Engine.Tests.Support;

namespace Engine.Tests.Protocols;

/// <summary>
/// Replays every transcript under Transcripts/Smtp through the sans-I/O reader: whole, as one-octet
/// segments, and fed one octet at a time. All three must give exactly the events the transcript expects.
/// A transcript has "&gt; " lines (client octets, escapes \r \n \t \\ \xHH, no line end added) and
/// "= " lines (expected events).
/// </summary>
public sealed class SmtpTranscriptSpecs
{
    private static readonly BodyLimits Limits = new(MaxSize: 4096, MaxLineLength: 200, BareNewline: BareNewlinePolicy.Reject);

    public static TheoryData<string> Transcripts()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Transcripts", "Smtp"), "*.txt").Order())
            data.Add(Path.GetFileName(file));
        return data;
    }

    [Theory]
    [MemberData(nameof(Transcripts))]
    public void Transcript_gives_the_expected_events_however_it_is_split(string name)
    {
        var lines = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Transcripts", "Smtp", name));
        var input = lines.Where(l => l.StartsWith("> ", StringComparison.Ordinal))
            .SelectMany(l => Engine.Tests.Shared.Escapes.Unescape(l[2..])).ToArray();
        var expected = lines.Where(l => l.StartsWith("= ", StringComparison.Ordinal)).Select(l => l[2..]).ToArray();
        Assert.NotEmpty(expected);

        Assert.Equal(expected, SmtpWireHarness.Whole(input, Limits));
        Assert.Equal(expected, SmtpWireHarness.Segmented(input, Limits));
        Assert.Equal(expected, SmtpWireHarness.ByteAtATime(input, Limits));
    }

    [Fact]
    public void Every_transcript_is_found()
    {
        Assert.True(Transcripts().Count >= 8, "the transcripts were not copied to the output folder");
    }
}
