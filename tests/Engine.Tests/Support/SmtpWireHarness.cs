using System.Buffers;
using System.Text;
using Engine.Protocols.Smtp;

namespace Engine.Tests.Support;

/// <summary>
/// Drives the sans-I/O <see cref="SmtpInputReader"/> over a client's octets the way the connection does,
/// accepting every DATA and BDAT, and writes what it sees as one event per line.
/// </summary>
public sealed class SmtpWireHarness(BodyLimits limits)
{
    private readonly SmtpInputReader _reader = new(new SmtpCommandParser());
    private readonly List<byte> _pending = [];
    private readonly ArrayBufferWriter<byte> _body = new();
    private readonly List<string> _events = [];
    private DataDecoder? _data;
    private BdatDecoder? _bdat;
    private BdatCommand? _chunk;

    public IReadOnlyList<string> Events => _events;

    /// <summary>The whole input in one buffer.</summary>
    public static IReadOnlyList<string> Whole(byte[] input, BodyLimits limits)
    {
        var h = new SmtpWireHarness(limits);
        h.Feed(new ReadOnlySequence<byte>(input));
        return h.Events;
    }

    /// <summary>The whole input as a chain of one-octet segments (every line spans segments).</summary>
    public static IReadOnlyList<string> Segmented(byte[] input, BodyLimits limits)
    {
        var h = new SmtpWireHarness(limits);
        h.Feed(Segments.OfOneByte(input));
        return h.Events;
    }

    /// <summary>One octet at a time, keeping what was not consumed, as a pipe does.</summary>
    public static IReadOnlyList<string> ByteAtATime(byte[] input, BodyLimits limits)
    {
        var h = new SmtpWireHarness(limits);
        foreach (var b in input)
        {
            h._pending.Add(b);
            var buffer = h._pending.ToArray();
            var consumed = h.Feed(new ReadOnlySequence<byte>(buffer));
            h._pending.RemoveRange(0, (int)consumed);
        }
        return h.Events;
    }

    /// <summary>Reads everything it can; returns the octets consumed.</summary>
    private long Feed(ReadOnlySequence<byte> input)
    {
        var reader = new SequenceReader<byte>(input);
        while (true)
        {
            var result = _reader.Read(ref reader, _body, out var parsed);
            switch (result)
            {
                case SmtpInput.NeedMore:
                    return reader.Consumed;
                case SmtpInput.Refused:
                    _events.Add($"REFUSED {parsed.Error}");
                    break;
                case SmtpInput.Command:
                    _events.Add("CMD " + Describe(parsed.Command!));
                    if (parsed.Command is DataCommand)
                    {
                        _data = new DataDecoder(limits);
                        _reader.BeginData(_data);
                    }
                    else if (parsed.Command is BdatCommand bdat)
                    {
                        _bdat ??= new BdatDecoder(limits);
                        _chunk = bdat;
                        _reader.BeginChunk(bdat.Size, _bdat);
                    }
                    break;
                case SmtpInput.DataEnd:
                    EndBody("DATA", _data!);
                    _data = null;
                    break;
                case SmtpInput.ChunkEnd:
                    if (_chunk!.Last)
                    {
                        _bdat!.Finish(_body);
                        EndBody("BDAT", _bdat);
                        _bdat = null;
                    }
                    else
                    {
                        _events.Add($"CHUNK {_chunk.Size}");
                    }
                    break;
            }
        }
    }

    private void EndBody(string kind, BodyDecoder decoder)
    {
        var rejection = decoder.Rejection is { } r ? $"{r.Code} {r.Enhanced}" : "ok";
        _events.Add($"{kind}-END {rejection} size={decoder.Size} body={Escape(_body.WrittenSpan)}");
        _body.ResetWrittenCount();
    }

    public static string Describe(SmtpCommand command) => command switch
    {
        EhloCommand c => $"EHLO {c.Domain}",
        HeloCommand c => $"HELO {c.Domain}",
        MailCommand c => $"MAIL <{c.From}>" + Params(
            c.Parameters.Size is { } s ? $"SIZE={s}" : null,
            c.Parameters.Body == Engine.Primitives.BodyType.EightBitMime ? "BODY=8BITMIME" : null,
            c.Parameters.SmtpUtf8 ? "SMTPUTF8" : null,
            c.Parameters.Ret != Engine.Primitives.DsnReturn.Unspecified ? $"RET={c.Parameters.Ret}" : null,
            c.Parameters.EnvId is { } e ? $"ENVID={e}" : null),
        RcptCommand c => $"RCPT <{c.To}>" + Params(
            c.Parameters.Notify != Engine.Primitives.DsnNotify.Unspecified ? $"NOTIFY={c.Parameters.Notify}" : null,
            c.Parameters.Orcpt is { } o ? $"ORCPT={c.Parameters.OrcptType};{o}" : null),
        BdatCommand c => $"BDAT {c.Size}{(c.Last ? " LAST" : "")}",
        HelpCommand c => $"HELP {c.Topic}".TrimEnd(),
        VrfyCommand c => $"VRFY {c.Argument}",
        _ => command.Verb,
    };

    private static string Params(params string?[] items) =>
        string.Concat(items.Where(i => i is not null).Select(i => " " + i));

    /// <summary>Octets as text, with CR, LF, tab, backslash and non-printables escaped.</summary>
    public static string Escape(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder();
        foreach (var b in bytes)
        {
            sb.Append(b switch
            {
                (byte)'\r' => "\\r",
                (byte)'\n' => "\\n",
                (byte)'\t' => "\\t",
                (byte)'\\' => "\\\\",
                < 32 or > 126 => $"\\x{b:X2}",
                _ => ((char)b).ToString(),
            });
        }
        return sb.ToString();
    }

}

public static class Segments
{
    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }

    public static ReadOnlySequence<byte> OfOneByte(byte[] input)
    {
        if (input.Length == 0)
            return ReadOnlySequence<byte>.Empty;
        var first = new Segment(input.AsMemory(0, 1), 0);
        var last = first;
        for (var i = 1; i < input.Length; i++)
            last = last.Append(input.AsMemory(i, 1));
        return new ReadOnlySequence<byte>(first, 0, last, 1);
    }
}
