using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Akka.Actor;
using Engine.Primitives;
using Engine.Protocols.Smtp;

namespace Engine.Smtp.Server;

/// <summary>
/// The I/O side of one SMTP connection: a read loop that frames and parses command lines and streams
/// message text into the blob store, and a write loop that sends replies, flushing once the queue of
/// replies is empty (so a PIPELINING group gets its replies in one write, RFC 2920 section 3.2).
/// Decisions are the <see cref="SmtpSession"/> actor's; this class only moves octets.
/// </summary>
internal sealed class SmtpConnection
{
    private static readonly object CloseMarker = new();

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly SmtpSettings _settings;
    private readonly SmtpCommandParser _parser;
    private readonly SmtpLineReader _lines;
    private readonly Channel<object> _replies = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _closing = new();
    private readonly ArrayBufferWriter<byte> _body = new(64 * 1024);
    private TaskCompletionSource<BodyTarget?>? _bodyDecision;
    private IActorRef _session = ActorRefs.Nobody;

    public SmtpConnection(Socket socket, SmtpSettings settings)
    {
        _socket = socket;
        _settings = settings;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _input = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024));
        _output = PipeWriter.Create(_stream, new StreamPipeWriterOptions(leaveOpen: true));
        _parser = new SmtpCommandParser(settings.CommandLineLimit, settings.CommandExtensionAllowance);
        _lines = new SmtpLineReader(_parser.MaxLineLength);
        RemoteAddress = (socket.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
        LocalEndPoint = socket.LocalEndPoint as IPEndPoint ?? new IPEndPoint(IPAddress.None, 0);
    }

    public IPAddress RemoteAddress { get; }
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Runs both loops until the connection ends. The session must be set first.</summary>
    public async Task RunAsync(IActorRef session)
    {
        _session = session;
        var writer = WriteLoopAsync();
        var reader = ReadLoopAsync();
        await writer.ConfigureAwait(false);
        await _closing.CancelAsync().ConfigureAwait(false);
        await reader.ConfigureAwait(false);
        _socket.Dispose();
    }

    public void Send(SmtpReply reply) => _replies.Writer.TryWrite(reply);

    /// <summary>Sends what is queued, then closes the connection.</summary>
    public void Close()
    {
        _replies.Writer.TryWrite(CloseMarker);
        _replies.Writer.TryComplete();
    }

    /// <summary>Closes at once, dropping unsent replies (the session actor is gone).</summary>
    public void Abort()
    {
        _replies.Writer.TryComplete();
        _closing.Cancel();
    }

    /// <summary>The session's answer to DATA or BDAT: where the octets go, or null to discard them.</summary>
    public void Proceed(BodyTarget? target) => _bodyDecision?.TrySetResult(target);

    private async Task WriteLoopAsync()
    {
        try
        {
            var reader = _replies.Reader;
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (reader.TryRead(out var item))
                {
                    if (ReferenceEquals(item, CloseMarker))
                    {
                        await _output.FlushAsync().ConfigureAwait(false);
                        _socket.Shutdown(SocketShutdown.Both);
                        return;
                    }
                    var text = ((SmtpReply)item).Render();
                    var span = _output.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
                    _output.Advance(Encoding.UTF8.GetBytes(text, span));
                }
                await _output.FlushAsync().ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The peer went away; the read loop reports it.
        }
    }

    private async Task ReadLoopAsync()
    {
        Exception? error = null;
        var timedOut = false;
        try
        {
            timedOut = !await ReadCommandsAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_closing.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            error = e;
        }
        await _input.CompleteAsync().ConfigureAwait(false);
        _bodyDecision?.TrySetResult(null);
        _session.Tell(timedOut ? new SessionInput.TimedOut() : new SessionInput.Closed(error));
    }

    /// <summary>Reads until the peer closes (true) or a line does not arrive in time (false).</summary>
    private async Task<bool> ReadCommandsAsync()
    {
        // The whole line must arrive within the timeout, so a client that sends a byte at a time
        // cannot hold the session open for ever.
        var deadline = DateTime.UtcNow + _settings.CommandTimeout;
        while (true)
        {
            var read = await ReadAsync(deadline - DateTime.UtcNow).ConfigureAwait(false);
            if (read is null)
                return false;
            var buffer = read.Value.Buffer;
            var reader = new SequenceReader<byte>(buffer);
            SmtpCommand? bodyCommand = null;
            while (bodyCommand is null)
            {
                var status = _lines.TryRead(ref reader, out var line);
                if (status == LineStatus.NeedMore)
                    break;
                deadline = DateTime.UtcNow + _settings.CommandTimeout;
                if (status == LineStatus.TooLong)
                {
                    _session.Tell(new SessionInput.Refused(SmtpSyntaxError.LineTooLong, null));
                    continue;
                }
                var parsed = Parse(line);
                if (!parsed.IsOk)
                {
                    _session.Tell(new SessionInput.Refused(parsed.Error, parsed.Detail));
                    continue;
                }
                if (parsed.Command is DataCommand or BdatCommand)
                {
                    bodyCommand = parsed.Command;
                    _bodyDecision = new TaskCompletionSource<BodyTarget?>(TaskCreationOptions.RunContinuationsAsynchronously);
                }
                _session.Tell(new SessionInput.Command(parsed.Command!));
            }
            _input.AdvanceTo(reader.Position, bodyCommand is null ? buffer.End : reader.Position);
            if (bodyCommand is not null)
            {
                var target = await _bodyDecision!.Task.ConfigureAwait(false);
                _bodyDecision = null;
                var completed = bodyCommand switch
                {
                    DataCommand when target is not null => await ReadDataAsync(target).ConfigureAwait(false),
                    BdatCommand bdat => await ReadChunkAsync(bdat, target).ConfigureAwait(false),
                    _ => true,
                };
                if (!completed)
                    return false;
                deadline = DateTime.UtcNow + _settings.CommandTimeout;
                continue;
            }
            if (read.Value.IsCompleted)
                return true;
        }
    }

    private SmtpParseResult Parse(in ReadOnlySequence<byte> line)
    {
        if (line.IsSingleSegment)
            return _parser.Parse(line.FirstSpan);
        return _parser.Parse(line.ToArray());
    }

    /// <summary>Reads DATA text to its end into the target. False on timeout.</summary>
    private async Task<bool> ReadDataAsync(BodyTarget target)
    {
        var decoder = (DataDecoder)target.Decoder;
        Exception? error = null;
        try
        {
            await target.WritePrefixAsync(_closing.Token).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            error = e;
        }
        while (true)
        {
            var read = await ReadAsync(_settings.DataTimeout).ConfigureAwait(false);
            if (read is null)
                return false;
            var buffer = read.Value.Buffer;
            var reader = new SequenceReader<byte>(buffer);
            var done = decoder.Decode(ref reader, _body);
            _input.AdvanceTo(reader.Position, done ? reader.Position : buffer.End);
            error ??= await DrainBodyAsync(target).ConfigureAwait(false);
            if (done)
                break;
            if (read.Value.IsCompleted)
                throw new IOException("connection closed during DATA");
        }
        if (error is null && !decoder.Failed)
            error = await CommitAsync(target).ConfigureAwait(false);
        _session.Tell(new SessionInput.DataRead(decoder.Size, decoder.Rejection, error));
        return true;
    }

    /// <summary>Reads exactly one BDAT chunk, into the target or (when null) nowhere. False on timeout.</summary>
    private async Task<bool> ReadChunkAsync(BdatCommand bdat, BodyTarget? target)
    {
        var decoder = target?.Decoder as BdatDecoder;
        Exception? error = null;
        if (target is not null)
        {
            try
            {
                await target.WritePrefixAsync(_closing.Token).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                error = e;
            }
        }
        var remaining = bdat.Size;
        while (remaining > 0)
        {
            var read = await ReadAsync(_settings.DataTimeout).ConfigureAwait(false);
            if (read is null)
                return false;
            remaining = ConsumeChunk(read.Value.Buffer, remaining, decoder);
            if (decoder is not null)
                error ??= await DrainBodyAsync(target!).ConfigureAwait(false);
            if (remaining > 0 && read.Value.IsCompleted)
                throw new IOException("connection closed during BDAT");
        }
        if (decoder is not null && bdat.Last)
        {
            decoder.Finish(_body);
            error ??= await DrainBodyAsync(target!).ConfigureAwait(false);
            if (error is null && !decoder.Failed)
                error = await CommitAsync(target!).ConfigureAwait(false);
        }
        _session.Tell(new SessionInput.ChunkRead(bdat.Size, bdat.Last, decoder?.Rejection, error));
        return true;
    }

    /// <summary>Takes up to <paramref name="remaining"/> octets of a chunk from the buffer; returns what is left.</summary>
    private long ConsumeChunk(ReadOnlySequence<byte> buffer, long remaining, BdatDecoder? decoder)
    {
        var reader = new SequenceReader<byte>(buffer);
        if (decoder is not null)
        {
            remaining -= decoder.Decode(ref reader, remaining, _body);
        }
        else
        {
            var skip = Math.Min(remaining, reader.Remaining);
            reader.Advance(skip);
            remaining -= skip;
        }
        _input.AdvanceTo(reader.Position, remaining == 0 ? reader.Position : buffer.End);
        return remaining;
    }

    private async Task<Exception?> DrainBodyAsync(BodyTarget target)
    {
        if (_body.WrittenCount == 0)
            return null;
        try
        {
            await target.Writer.WriteAsync(_body.WrittenMemory, _closing.Token).ConfigureAwait(false);
            return null;
        }
        catch (IOException e)
        {
            return e;
        }
        finally
        {
            _body.ResetWrittenCount();
        }
    }

    private async Task<Exception?> CommitAsync(BodyTarget target)
    {
        try
        {
            await target.Writer.CommitAsync(_closing.Token).ConfigureAwait(false);
            return null;
        }
        catch (IOException e)
        {
            return e;
        }
    }

    /// <summary>One read with a deadline; null when the deadline passed first.</summary>
    private async Task<ReadResult?> ReadAsync(TimeSpan timeout)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_closing.Token);
        deadline.CancelAfter(timeout);
        try
        {
            return await _input.ReadAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!_closing.IsCancellationRequested)
        {
            return null;
        }
    }
}
