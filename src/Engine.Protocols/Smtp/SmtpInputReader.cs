using System.Buffers;

namespace Engine.Protocols.Smtp;

/// <summary>What <see cref="SmtpInputReader.Read"/> found.</summary>
public enum SmtpInput
{
    /// <summary>All input is consumed; read more from the client.</summary>
    NeedMore,
    /// <summary>A command line; when it is DATA or BDAT the reader waits for <see cref="SmtpInputReader.BeginData"/> or <see cref="SmtpInputReader.BeginChunk"/>.</summary>
    Command,
    /// <summary>A line that was refused (too long, bad syntax, unknown verb).</summary>
    Refused,
    /// <summary>DATA text has been read up to and including <c>&lt;CRLF&gt;.&lt;CRLF&gt;</c>.</summary>
    DataEnd,
    /// <summary>A BDAT chunk has been read whole.</summary>
    ChunkEnd,
    /// <summary>A line answering a SASL challenge (<see cref="SmtpInputReader.ExpectSaslResponse"/>), in <see cref="SmtpInputReader.SaslResponse"/>.</summary>
    SaslResponse,
}

/// <summary>
/// The sans-I/O server side of the SMTP wire: it turns the client's octets into commands, and after DATA or
/// BDAT (once the session has said whether it accepts them) into message text. It holds no socket; the
/// caller feeds it whatever arrived, in any split, and writes the message text where it wants.
/// </summary>
public sealed class SmtpInputReader(SmtpCommandParser parser)
{
    private enum Mode { Commands, AwaitingDecision, Data, Chunk, Sasl }

    /// <summary>RFC 4954 section 4: a server must take SASL response lines of 12,288 octets.</summary>
    private const int MaxSaslLine = 12288;

    private readonly SmtpLineReader _lines = new(parser.MaxLineLength);
    private readonly SmtpLineReader _saslLines = new(MaxSaslLine);
    private Mode _mode = Mode.Commands;
    private DataDecoder? _data;
    private BdatDecoder? _chunkDecoder;
    private long _chunkRemaining;

    public bool InBody => _mode is Mode.Data or Mode.Chunk;

    /// <summary>The last line read as a SASL response.</summary>
    public string SaslResponse { get; private set; } = "";

    /// <summary>The session sent a 334 challenge: the next line is its answer, not a command.</summary>
    public void ExpectSaslResponse() => _mode = Mode.Sasl;

    /// <summary>Reads the next item; message text goes to <paramref name="body"/>.</summary>
    public SmtpInput Read(ref SequenceReader<byte> reader, IBufferWriter<byte> body, out SmtpParseResult command)
    {
        command = default;
        switch (_mode)
        {
            case Mode.AwaitingDecision:
                throw new InvalidOperationException("DATA or BDAT is waiting for the session's decision");
            case Mode.Data:
                if (!_data!.Decode(ref reader, body))
                    return SmtpInput.NeedMore;
                _mode = Mode.Commands;
                return SmtpInput.DataEnd;
            case Mode.Chunk:
                if (_chunkDecoder is not null)
                {
                    _chunkRemaining -= _chunkDecoder.Decode(ref reader, _chunkRemaining, body);
                }
                else
                {
                    var skip = Math.Min(_chunkRemaining, reader.Remaining);
                    reader.Advance(skip);
                    _chunkRemaining -= skip;
                }
                if (_chunkRemaining > 0)
                    return SmtpInput.NeedMore;
                _mode = Mode.Commands;
                return SmtpInput.ChunkEnd;
        }
        if (_mode == Mode.Sasl)
        {
            switch (_saslLines.TryRead(ref reader, out var response))
            {
                case LineStatus.NeedMore:
                    return SmtpInput.NeedMore;
                case LineStatus.TooLong:
                    _mode = Mode.Commands;
                    command = SmtpParseResult.Fail(SmtpSyntaxError.LineTooLong);
                    return SmtpInput.Refused;
            }
            _mode = Mode.Commands;
            SaslResponse = System.Text.Encoding.ASCII.GetString(response.ToArray());
            return SmtpInput.SaslResponse;
        }
        switch (_lines.TryRead(ref reader, out var line))
        {
            case LineStatus.NeedMore:
                return SmtpInput.NeedMore;
            case LineStatus.TooLong:
                command = SmtpParseResult.Fail(SmtpSyntaxError.LineTooLong);
                return SmtpInput.Refused;
        }
        command = line.IsSingleSegment ? parser.Parse(line.FirstSpan) : parser.Parse(line.ToArray());
        if (!command.IsOk)
            return SmtpInput.Refused;
        if (command.Command is DataCommand or BdatCommand)
            _mode = Mode.AwaitingDecision;
        return SmtpInput.Command;
    }

    /// <summary>The session's answer to DATA: read text with this decoder, or (null) stay with commands.</summary>
    public void BeginData(DataDecoder? decoder)
    {
        ExpectDecision();
        _data = decoder;
        _mode = decoder is null ? Mode.Commands : Mode.Data;
    }

    /// <summary>The session's answer to BDAT: the chunk goes through the decoder, or (null) is skipped.</summary>
    public void BeginChunk(long size, BdatDecoder? decoder)
    {
        ExpectDecision();
        _chunkDecoder = decoder;
        _chunkRemaining = size;
        _mode = Mode.Chunk;
    }

    private void ExpectDecision()
    {
        if (_mode != Mode.AwaitingDecision)
            throw new InvalidOperationException("no DATA or BDAT is waiting for a decision");
    }
}
