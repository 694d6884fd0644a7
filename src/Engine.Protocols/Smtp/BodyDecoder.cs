using System.Buffers;

namespace Engine.Protocols.Smtp;

/// <summary>What to do with a bare CR or LF in message text (Postfix's smtpd_forbid_bare_newline).</summary>
public enum BareNewlinePolicy { Reject, Normalize, Allow }

/// <summary>Limits and policy for message text, shared by DATA and BDAT.</summary>
/// <param name="MaxHops">The most Received: header lines a message may carry (Postfix's hopcount_limit); 0: no limit.</param>
public sealed record BodyLimits(long MaxSize, int MaxLineLength, BareNewlinePolicy BareNewline, int MaxHops = 0);

/// <summary>
/// The common part of DATA and BDAT decoding: counting the size and the line length, tracking bare CR and
/// LF, and writing the accepted octets to an output. After a limit is passed nothing more is written, but
/// input is still consumed, so the session stays in step with the client and can answer once, at the end.
/// </summary>
public abstract class BodyDecoder(BodyLimits limits)
{
    protected BodyLimits Limits { get; } = limits;

    private long _lineLength;
    private readonly byte[] _lineStart = new byte[Received.Length];
    private int _lineStartSeen;
    private bool _inHeader = true;

    private static ReadOnlySpan<byte> Received => "received:"u8;

    /// <summary>Received: lines in the message's header, counted as they stream by (a mail loop shows as many).</summary>
    public int Hops { get; private set; }

    public bool TooManyHops => Limits.MaxHops > 0 && Hops > Limits.MaxHops;

    /// <summary>Octets written to the output (after unstuffing and normalizing).</summary>
    public long Size { get; private set; }
    public bool SizeExceeded { get; private set; }
    public bool LineTooLong { get; private set; }
    public bool SawBareNewline { get; private set; }

    /// <summary>True when the message must be refused; see <see cref="Rejection"/>.</summary>
    public bool Failed => SizeExceeded || LineTooLong || TooManyHops || (SawBareNewline && Limits.BareNewline == BareNewlinePolicy.Reject);

    /// <summary>The reply that refuses the message, or null when it is acceptable.</summary>
    public Primitives.SmtpReply? Rejection =>
        TooManyHops ? new(554, "5.4.6", $"Error: too many hops ({Hops} Received: lines; is there a mail loop?)")
        : SizeExceeded ? new(552, "5.3.4", "Error: message file too big")
        : LineTooLong ? new(500, "5.5.2", $"Error: message line longer than {Limits.MaxLineLength} octets")
        : SawBareNewline && Limits.BareNewline == BareNewlinePolicy.Reject
            ? new(550, "5.5.2", "Error: bare CR or LF in message text (RFC 5321 section 2.3.8)")
            : null;

    /// <summary>Counts octets that were given to the output before the decoder, such as our Received: header.</summary>
    public void AddPrefix(long octets) => Size += octets;

    protected void Write(IBufferWriter<byte> output, ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
            return;
        if (_inHeader && _lineStartSeen < _lineStart.Length)
        {
            var take = Math.Min(bytes.Length, _lineStart.Length - _lineStartSeen);
            bytes[..take].CopyTo(_lineStart.AsSpan(_lineStartSeen));
            _lineStartSeen += take;
            if (_lineStartSeen == _lineStart.Length && System.Text.Ascii.EqualsIgnoreCase(_lineStart, Received))
                Hops++;
        }
        // Up to the limit the octets are written, then nothing: the outcome does not depend on how
        // the input was split.
        var room = Math.Max(0, Limits.MaxLineLength - 2 - _lineLength);
        _lineLength += bytes.Length;
        if (bytes.Length <= room)
        {
            Emit(output, bytes);
            return;
        }
        Emit(output, bytes[..(int)room]);
        LineTooLong = true;
    }

    /// <summary>Writes a line end: the real CRLF, or a bare CR or LF under the configured policy.</summary>
    protected void WriteLineEnd(IBufferWriter<byte> output, ReadOnlySpan<byte> original, bool bare)
    {
        if (_lineLength == 0)
            _inHeader = false; // the empty line ends the header
        _lineStartSeen = 0;
        _lineLength = 0;
        if (bare)
        {
            SawBareNewline = true;
            if (Limits.BareNewline == BareNewlinePolicy.Normalize)
            {
                Emit(output, "\r\n"u8);
                return;
            }
        }
        Emit(output, original);
    }

    private void Emit(IBufferWriter<byte> output, ReadOnlySpan<byte> bytes)
    {
        if (Failed)
            return;
        if (Size + bytes.Length > Limits.MaxSize)
        {
            var room = (int)(Limits.MaxSize - Size);
            output.Write(bytes[..room]);
            Size += room;
            SizeExceeded = true;
            return;
        }
        Size += bytes.Length;
        output.Write(bytes);
    }
}

/// <summary>
/// Decodes the text after DATA (RFC 5321 section 4.1.1.4 and 4.5.2): removes the leading dot of stuffed
/// lines and finds the end, which is only ever <c>&lt;CRLF&gt;.&lt;CRLF&gt;</c>. A bare LF or CR never ends
/// a line for this purpose, so "\n.\n", "\r.\r", "\n.\r\n" and "\r\n.\n" are text, not an end (the SMTP
/// smuggling class). Fed any split of the input, byte by byte or whole, it gives the same result.
/// </summary>
public sealed class DataDecoder(BodyLimits limits) : BodyDecoder(limits)
{
    private enum State { LineStart, Middle, Cr, Dot, DotCr, Done }

    // LineStart, Dot and DotCr are only entered after a real CRLF (or at the start of the text): a dot
    // there was added by the client's stuffing and is dropped, and ".CRLF" there ends DATA. After a bare
    // CR or LF the next octets are plain text, dot or not.
    private State _state = State.LineStart;

    /// <summary>Consumes input up to the end marker; returns true when the end has been read.</summary>
    public bool Decode(ref SequenceReader<byte> reader, IBufferWriter<byte> output)
    {
        while (_state != State.Done && !reader.End)
        {
            var used = Step(reader.UnreadSpan, output);
            reader.Advance(used);
        }
        return _state == State.Done;
    }

    /// <summary>Handles the start of <paramref name="span"/>; returns the octets consumed (0: same octet, new state).</summary>
    private int Step(ReadOnlySpan<byte> span, IBufferWriter<byte> output)
    {
        var b = span[0];
        switch (_state)
        {
            case State.LineStart:
                _state = b == '.' ? State.Dot : State.Middle;
                return b == '.' ? 1 : 0;
            case State.Middle:
                var run = span.IndexOfAny((byte)'\r', (byte)'\n');
                if (run < 0)
                {
                    Write(output, span);
                    return span.Length;
                }
                Write(output, span[..run]);
                if (span[run] == '\r')
                {
                    _state = State.Cr;
                    return run + 1;
                }
                WriteLineEnd(output, "\n"u8, bare: true);
                return run + 1;
            case State.Cr:
                if (b == '\n')
                {
                    WriteLineEnd(output, "\r\n"u8, bare: false);
                    _state = State.LineStart;
                    return 1;
                }
                WriteLineEnd(output, "\r"u8, bare: true);
                _state = State.Middle;
                return 0;
            case State.Dot:
                // The stuffed dot is dropped; whatever follows is text.
                _state = b == '\r' ? State.DotCr : State.Middle;
                return b == '\r' ? 1 : 0;
            case State.DotCr:
                if (b == '\n')
                {
                    _state = State.Done;
                    return 1;
                }
                _state = State.Cr;
                return 0;
            default:
                return 0;
        }
    }
}

/// <summary>
/// Checks the octets of BDAT chunks (RFC 3030): no unstuffing and no end marker, but the same size,
/// line-length and bare CR/LF rules as DATA, across chunk boundaries.
/// </summary>
public sealed class BdatDecoder(BodyLimits limits) : BodyDecoder(limits)
{
    private bool _pendingCr;

    /// <summary>Consumes up to <paramref name="remaining"/> octets of the current chunk; returns how many.</summary>
    public long Decode(ref SequenceReader<byte> reader, long remaining, IBufferWriter<byte> output)
    {
        long used = 0;
        while (remaining > used && !reader.End)
        {
            var span = reader.UnreadSpan;
            if (span.Length > remaining - used)
                span = span[..(int)(remaining - used)];
            var i = 0;
            if (_pendingCr)
            {
                _pendingCr = false;
                if (span[0] == '\n')
                {
                    WriteLineEnd(output, "\r\n"u8, bare: false);
                    i = 1;
                }
                else
                {
                    WriteLineEnd(output, "\r"u8, bare: true);
                }
            }
            while (i < span.Length)
            {
                var rest = span[i..];
                var run = rest.IndexOfAny((byte)'\r', (byte)'\n');
                if (run < 0)
                {
                    Write(output, rest);
                    i = span.Length;
                    break;
                }
                Write(output, rest[..run]);
                i += run + 1;
                if (rest[run] == '\n')
                {
                    WriteLineEnd(output, "\n"u8, bare: true);
                }
                else if (i < span.Length)
                {
                    if (span[i] == '\n')
                    {
                        WriteLineEnd(output, "\r\n"u8, bare: false);
                        i++;
                    }
                    else
                    {
                        WriteLineEnd(output, "\r"u8, bare: true);
                    }
                }
                else
                {
                    _pendingCr = true;
                }
            }
            reader.Advance(span.Length);
            used += span.Length;
        }
        return used;
    }

    /// <summary>Called after the LAST chunk: a CR at the very end is bare.</summary>
    public void Finish(IBufferWriter<byte> output)
    {
        if (_pendingCr)
        {
            _pendingCr = false;
            WriteLineEnd(output, "\r"u8, bare: true);
        }
    }
}
