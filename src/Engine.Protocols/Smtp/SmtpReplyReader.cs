using System.Buffers;
using System.Text;
using Engine.Primitives;

namespace Engine.Protocols.Smtp;

/// <summary>
/// Reads server replies for the SMTP client (RFC 5321 section 4.2): lines of "ddd-text" ending with
/// "ddd text", the enhanced status code of RFC 2034 split off when the server announced
/// ENHANCEDSTATUSCODES-style text. Sans-I/O: fed whatever arrived; a reply longer than the limit is an error.
/// </summary>
public sealed class SmtpReplyReader(int maxLines = 100, int maxLineLength = 4096)
{
    private readonly List<string> _lines = [];
    private int _code;

    /// <summary>Reads one complete reply, or returns false when more octets are needed.</summary>
    public bool TryRead(ref SequenceReader<byte> reader, out SmtpReply reply)
    {
        reply = null!;
        while (reader.TryReadTo(out ReadOnlySequence<byte> raw, (byte)'\n'))
        {
            var line = Encoding.UTF8.GetString(raw).TrimEnd('\r');
            if (line.Length < 3 || line.Length > maxLineLength || !int.TryParse(line.AsSpan(0, 3), out var code) || code is < 200 or > 599
                || (line.Length > 3 && line[3] is not (' ' or '-')))
                throw new FormatException($"not an SMTP reply line: '{Truncate(line)}'");
            if (_lines.Count > 0 && code != _code)
                throw new FormatException($"reply code changed within a reply: '{Truncate(line)}'");
            _code = code;
            _lines.Add(line.Length > 4 ? line[4..] : "");
            if (_lines.Count > maxLines)
                throw new FormatException("reply has too many lines");
            if (line.Length == 3 || line[3] == ' ')
            {
                reply = Build(code, _lines);
                _lines.Clear();
                return true;
            }
        }
        if (reader.Remaining > maxLineLength)
            throw new FormatException("reply line too long");
        return false;
    }

    private static SmtpReply Build(int code, List<string> lines)
    {
        // "250 2.1.0 Ok": an enhanced code whose class matches the reply's first digit (RFC 3463 section 2).
        var first = lines[^1];
        var space = first.IndexOf(' ');
        var candidate = space > 0 ? first[..space] : first;
        if (candidate.Length >= 5 && candidate[0] - '0' == code / 100 && candidate[1] == '.' && candidate.Count(c => c == '.') == 2
            && candidate.All(c => char.IsAsciiDigit(c) || c == '.'))
        {
            var texts = lines.Select(l => l.StartsWith(candidate + " ", StringComparison.Ordinal) ? l[(candidate.Length + 1)..] : l).ToArray();
            return new SmtpReply(code, candidate, texts);
        }
        return new SmtpReply(code, null, lines.ToArray());
    }

    private static string Truncate(string text) => text.Length > 80 ? text[..80] + "..." : text;
}

/// <summary>
/// Dot-stuffing for DATA (RFC 5321 section 4.5.2): a line that begins with "." gets a second one. The
/// message octets are sent as stored; the encoder remembers across calls whether a line has just begun.
/// It also ends the text with CRLF "." CRLF, adding a CRLF first if the message lacked one at its end.
/// </summary>
public sealed class DotStuffer
{
    private bool _lineStart = true;
    private byte _last = (byte)'\n';

    public void Write(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        while (!input.IsEmpty)
        {
            if (_lineStart && input[0] == '.')
                output.Write("."u8);
            var newline = input.IndexOf((byte)'\n');
            var run = newline < 0 ? input : input[..(newline + 1)];
            output.Write(run);
            _lineStart = newline >= 0;
            _last = run[^1];
            input = input[run.Length..];
        }
    }

    public void Finish(IBufferWriter<byte> output)
    {
        if (_last != '\n')
            output.Write("\r\n"u8);
        output.Write(".\r\n"u8);
    }
}
