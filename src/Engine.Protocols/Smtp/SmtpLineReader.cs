using System.Buffers;

namespace Engine.Protocols.Smtp;

public enum LineStatus { NeedMore, Line, TooLong }

/// <summary>
/// Frames command lines. A line ends at LF; a CR before it is dropped (RFC 5321 section 2.3.8 asks for
/// CRLF, and clients that send a bare LF after a command are tolerated, as Postfix does: in commands a
/// bare LF cannot smuggle anything). A line longer than the limit is skipped up to its end and reported
/// once as <see cref="LineStatus.TooLong"/>, so memory stays bounded whatever the client sends.
/// </summary>
public sealed class SmtpLineReader(int maxLength)
{
    private bool _discarding;

    public LineStatus TryRead(ref SequenceReader<byte> reader, out ReadOnlySequence<byte> line)
    {
        line = default;
        if (_discarding)
        {
            if (!reader.TryAdvanceTo((byte)'\n'))
            {
                reader.AdvanceToEnd();
                return LineStatus.NeedMore;
            }
            _discarding = false;
            return LineStatus.TooLong;
        }
        if (reader.TryReadTo(out line, (byte)'\n'))
        {
            if (line.Length > 0 && EndsWithCr(line))
                line = line.Slice(0, line.Length - 1);
            return line.Length > maxLength ? LineStatus.TooLong : LineStatus.Line;
        }
        if (reader.Remaining > maxLength + 1)
        {
            _discarding = true;
            reader.AdvanceToEnd();
        }
        return LineStatus.NeedMore;
    }

    private static bool EndsWithCr(in ReadOnlySequence<byte> line)
    {
        var last = line.Slice(line.Length - 1);
        return last.FirstSpan[0] == (byte)'\r';
    }
}
