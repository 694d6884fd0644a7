using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using System.Threading.Channels;
using Akka.Actor;
using Engine.Network;
using Engine.Network.Tls;
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

    /// <summary>
    /// The most commands told to the session and not yet answered. A client that pipelines without
    /// reading waits here, so the session's mailbox and the reply queue stay bounded.
    /// </summary>
    private const int MaxUnanswered = 100;

    // Message text collects here and goes to the spool in writes of at least DrainSize octets (or at
    // the end), so a small message costs one write.
    private const int DrainSize = 64 * 1024;

    private readonly Socket _socket;
    private readonly PeerStream _peer;
    // After STARTTLS these three are the TLS stream's: the write loop is idle then (every reply flushed).
    private Stream _stream;
    private PipeReader _input;
    private PipeWriter _output;
    private readonly SmtpSettings _settings;
    private readonly ServerTls _tls;
    private TaskCompletionSource<NextInput>? _lineDecision; // STARTTLS, AUTH or a SASL response waits for the session
    private readonly SmtpInputReader _wire;
    private readonly Channel<object> _replies = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    // Set when the session has stopped or the writer has ended: the reader stops at its next step.
    private readonly TaskCompletionSource _stop = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly PooledBufferWriter _body = new(16 * 1024);
    private CancellationTokenSource _flushDeadline = new();
    private CancellationTokenSource _readDeadline = new();
    private bool _quitRead; // nothing after QUIT is read
    private TaskCompletionSource<BodyTarget?>? _bodyDecision;
    private SmtpCommand? _pendingBody;
    private BodyTarget? _target;
    private Exception? _writeError;
    private int _unanswered;
    private bool _sessionStopped;
    private IActorRef _session = ActorRefs.Nobody;

    public SmtpConnection(Socket socket, IPAddress remote, SmtpSettings settings, ServerTls tls, SmtpService service)
    {
        _socket = socket;
        _settings = settings;
        _tls = tls;
        Service = service;
        _stream = _peer = new PeerStream(socket, ownsSocket: true);
        _input = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, leaveOpen: true));
        _output = PipeWriter.Create(_stream, new StreamPipeWriterOptions(leaveOpen: true));
        _wire = new SmtpInputReader(new SmtpCommandParser(settings.CommandLineLimit, settings.CommandExtensionAllowance));
        RemoteAddress = remote;
    }

    public IPAddress RemoteAddress { get; }

    /// <summary>MX or submission, and whether TLS came first.</summary>
    public SmtpService Service { get; }

    /// <summary>Runs both loops until the connection ends. The session must be set first.</summary>
    public async Task RunAsync(IActorRef session)
    {
        _session = session;
        if (Service.ImplicitTls && !await HandshakeFirstAsync().ConfigureAwait(false))
            return;
        var writer = WriteLoopAsync();
        var reader = ReadLoopAsync();
        // The writer ends when the session closes or stops, when the peer breaks the connection, or when
        // a flush does not finish in time (a client that stops reading).
        await writer.ConfigureAwait(false);
        // Nothing more can be answered: the reader stops too. Shutting the socket down ends a pending
        // read with end-of-stream (no cancellation, no exception). Over TLS a close_notify goes first.
        _stop.TrySetResult();
        if (_stream is SslStream tls)
            await ServerTls.CloseAsync(tls).ConfigureAwait(false);
        Shutdown();
        await reader.ConfigureAwait(false);
        _target?.Writer.Abort(); // a body cut off in the middle; a committed one is not touched
        await _output.CompleteAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        _body.Dispose();
        // Their timers would otherwise stay armed in the runtime's timer queue for up to a command timeout.
        _readDeadline.Dispose();
        _flushDeadline.Dispose();
    }

    /// <summary>Queues a reply; the write loop sends it.</summary>
    public void Send(SmtpReply reply) => _replies.Writer.TryWrite(reply);

    /// <summary>Sends what is queued, then closes the connection.</summary>
    public void Close()
    {
        _replies.Writer.TryWrite(CloseMarker);
        _replies.Writer.TryComplete();
    }

    /// <summary>The session actor has stopped: send what is queued, close, and stop reading.</summary>
    public void SessionStopped()
    {
        Volatile.Write(ref _sessionStopped, true);
        _replies.Writer.TryComplete();
        _stop.TrySetResult();
    }

    /// <summary>The session's answer to DATA or BDAT: where the octets go, or null to discard them.</summary>
    public void Proceed(BodyTarget? target) => Volatile.Read(ref _bodyDecision)?.TrySetResult(target);

    /// <summary>
    /// The session's answer to STARTTLS, AUTH or a SASL response: what the next input is (TLS once its 220 is
    /// queued, a SASL response once its 334 is, else commands).
    /// </summary>
    public void Continue(NextInput next) => Volatile.Read(ref _lineDecision)?.TrySetResult(next);

    private void Shutdown()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // already closed by the peer
        }
    }

    private async Task WriteLoopAsync()
    {
        try
        {
            var reader = _replies.Reader;
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                var written = 0;
                while (reader.TryRead(out var item))
                {
                    if (ReferenceEquals(item, CloseMarker))
                    {
                        await FlushAsync().ConfigureAwait(false);
                        return;
                    }
                    var text = ((SmtpReply)item).Render();
                    var span = _output.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
                    _output.Advance(Encoding.UTF8.GetBytes(text, span));
                    written++;
                }
                await FlushAsync().ConfigureAwait(false);
                Answered(written);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The peer went away, or stopped reading for longer than the command timeout.
        }
    }

    /// <summary>
    /// Counts replies as answered once they are flushed, so a client that pipelines without reading stops
    /// being read once MaxUnanswered replies wait for it. DATA has two replies (354 and the end), hence the floor.
    /// </summary>
    private void Answered(int replies)
    {
        int current;
        do
        {
            current = Volatile.Read(ref _unanswered);
        }
        while (Interlocked.CompareExchange(ref _unanswered, Math.Max(0, current - replies), current) != current);
    }

    private ValueTask<FlushResult> FlushAsync()
    {
        return _output.FlushAsync(Arm(ref _flushDeadline, _settings.CommandTimeout));
    }

    /// <summary>The source armed again for <paramref name="timeout"/>: the same one while it has not fired (a new one would be a new timer).</summary>
    private static CancellationToken Arm(ref CancellationTokenSource source, TimeSpan timeout)
    {
        if (!source.TryReset())
            source = new CancellationTokenSource();
        source.CancelAfter(timeout);
        return source.Token;
    }

    private async Task ReadLoopAsync()
    {
        Exception? error = null;
        var timedOut = false;
        try
        {
            timedOut = !await ReadCommandsAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Whatever broke the loop, the session must hear of it, or it would wait for ever.
            error = e;
        }
        finally
        {
            // A reset ends the input without an exception (see PeerStream); the session still hears why.
            if (error is null && !timedOut && _peer.PeerReset)
                error = new IOException("Connection reset by peer");
            await _input.CompleteAsync().ConfigureAwait(false);
            if (!Volatile.Read(ref _sessionStopped))
                _session.Tell(timedOut ? new SessionInput.TimedOut() : new SessionInput.Closed(error));
        }
    }

    /// <summary>Reads until the peer closes (true) or input does not arrive in time (false).</summary>
    private async Task<bool> ReadCommandsAsync()
    {
        // In command mode the whole line must arrive within the timeout, so a client that sends a byte at
        // a time cannot hold the session open for ever; in message text each read has the data timeout.
        var deadline = DateTime.UtcNow + _settings.CommandTimeout;
        var stop = SmtpInput.NeedMore;
        while (!_stop.Task.IsCompleted)
        {
            ReadOnlySequence<byte> buffer;
            var completed = false;
            var fromPipe = stop is not SmtpInput.Command;
            if (fromPipe)
            {
                var timeout = _wire.InBody ? _settings.DataTimeout : deadline - DateTime.UtcNow;
                var read = await ReadAsync(timeout).ConfigureAwait(false);
                if (read is null)
                    return false;
                buffer = read.Value.Buffer;
                completed = read.Value.IsCompleted;
            }
            else
            {
                // Just after a decision, look at empty input first: "BDAT 0 LAST" needs no octets.
                buffer = ReadOnlySequence<byte>.Empty;
            }
            stop = Step(buffer, out var consumed, out var linesRead, out var throttled);
            if (fromPipe)
                _input.AdvanceTo(consumed, stop == SmtpInput.NeedMore && !throttled ? buffer.End : consumed);
            if (_quitRead)
                return true;
            if (linesRead)
                deadline = DateTime.UtcNow + _settings.CommandTimeout;
            if (_target is not null && _body.WrittenCount >= DrainSize)
                _writeError ??= await DrainBodyAsync(_target).ConfigureAwait(false);
            if (throttled)
            {
                while (Volatile.Read(ref _unanswered) >= MaxUnanswered && !_stop.Task.IsCompleted)
                    await Task.Delay(10).ConfigureAwait(false);
                deadline = DateTime.UtcNow + _settings.CommandTimeout;
                continue;
            }
            switch (stop)
            {
                case SmtpInput.Command or SmtpInput.SaslResponse when Volatile.Read(ref _lineDecision) is { } pending:
                    if (await Task.WhenAny(pending.Task, _stop.Task).ConfigureAwait(false) != pending.Task)
                        return true;
                    Volatile.Write(ref _lineDecision, null);
                    if (pending.Task.Result == NextInput.SaslResponse)
                        _wire.ExpectSaslResponse();
                    if (pending.Task.Result == NextInput.StartTls && !await UpgradeAsync().ConfigureAwait(false))
                        return true;
                    deadline = DateTime.UtcNow + _settings.CommandTimeout;
                    break;
                case SmtpInput.Command:
                    // DATA or BDAT: wait for the session to say where the octets go (or to be gone).
                    var decision = _bodyDecision!.Task;
                    if (await Task.WhenAny(decision, _stop.Task).ConfigureAwait(false) != decision)
                        return true;
                    Volatile.Write(ref _bodyDecision, null);
                    BeginBody(decision.Result);
                    break;
                case SmtpInput.DataEnd or SmtpInput.ChunkEnd:
                    await EndBodyAsync(stop).ConfigureAwait(false);
                    deadline = DateTime.UtcNow + _settings.CommandTimeout;
                    break;
                case SmtpInput.NeedMore when completed:
                    if (_wire.InBody)
                        throw new IOException("connection closed in the middle of a message");
                    return true;
            }
        }
        return true;
    }

    /// <summary>
    /// A listener with TLS from the first byte (465): the handshake before anything is read or written (the
    /// session's 220 waits in the reply queue). False when it fails: the session is told, the socket closed.
    /// </summary>
    private async Task<bool> HandshakeFirstAsync()
    {
        try
        {
            UseTls(await _tls.AuthenticateAsync(_stream, CancellationToken.None).ConfigureAwait(false));
            return true;
        }
        catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException or SocketException)
        {
            _session.Tell(new SessionInput.Closed(new IOException("TLS handshake failed: " + e.Message, e)));
            Shutdown();
            await _stream.DisposeAsync().ConfigureAwait(false);
            return false;
        }
    }

    /// <summary>
    /// STARTTLS accepted: once every reply (the 220 last) is flushed, whatever the client sent in clear after
    /// STARTTLS is dropped with the old reader (RFC 3207 section 4.2; the CVE-2011-0411 class of injection),
    /// the handshake runs, and reading and writing go on over TLS. False when the handshake fails (logged by the session).
    /// </summary>
    private async Task<bool> UpgradeAsync()
    {
        while (Volatile.Read(ref _unanswered) > 0 && !_stop.Task.IsCompleted)
            await Task.Delay(1).ConfigureAwait(false);
        if (_stop.Task.IsCompleted)
            return false;
        await _input.CompleteAsync().ConfigureAwait(false);
        SslStream tls;
        try
        {
            tls = await _tls.AuthenticateAsync(_stream, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException or SocketException)
        {
            _input = PipeReader.Create(Stream.Null);
            throw new IOException("TLS handshake failed: " + e.Message, e);
        }
        UseTls(tls);
        return true;
    }

    /// <summary>Reading and writing go on over TLS; the session hears how.</summary>
    private void UseTls(SslStream tls)
    {
        _stream = tls;
        _input = PipeReader.Create(tls, new StreamPipeReaderOptions(bufferSize: 16 * 1024, leaveOpen: true));
        _output = PipeWriter.Create(tls, new StreamPipeWriterOptions(leaveOpen: true));
        _session.Tell(new SessionInput.TlsStarted(ServerTls.Describe(tls)));
    }

    /// <summary>
    /// Runs the sans-I/O reader over what has arrived, telling the session each command, up to the point
    /// where the I/O side has work to do: more input, a DATA/BDAT decision, or the end of a body.
    /// </summary>
    private SmtpInput Step(in ReadOnlySequence<byte> buffer, out SequencePosition consumed, out bool linesRead, out bool throttled)
    {
        var reader = new SequenceReader<byte>(buffer);
        linesRead = false;
        throttled = false;
        try
        {
            while (true)
            {
                if (!_wire.InBody && Volatile.Read(ref _unanswered) >= MaxUnanswered)
                {
                    throttled = true;
                    return SmtpInput.NeedMore;
                }
                var input = _wire.Read(ref reader, _body, out var parsed);
                switch (input)
                {
                    case SmtpInput.SaslResponse:
                        linesRead = true;
                        Interlocked.Increment(ref _unanswered);
                        Volatile.Write(ref _lineDecision, new TaskCompletionSource<NextInput>(TaskCreationOptions.RunContinuationsAsynchronously));
                        _session.Tell(new SessionInput.SaslResponse(_wire.SaslResponse));
                        return SmtpInput.SaslResponse;
                    case SmtpInput.Refused:
                        linesRead = true;
                        Interlocked.Increment(ref _unanswered);
                        _session.Tell(new SessionInput.Refused(parsed.Error, parsed.Detail));
                        continue;
                    case SmtpInput.Command:
                        linesRead = true;
                        Interlocked.Increment(ref _unanswered);
                        if (parsed.Command is StartTlsCommand or AuthCommand)
                        {
                            // Nothing more is read until the session says how: after STARTTLS the handshake comes
                            // first, after a 334 the next line is a SASL response (RFC 4954 section 4).
                            Volatile.Write(ref _lineDecision, new TaskCompletionSource<NextInput>(TaskCreationOptions.RunContinuationsAsynchronously));
                            _session.Tell(new SessionInput.Command(parsed.Command));
                            return SmtpInput.Command;
                        }
                        if (parsed.Command is DataCommand or BdatCommand)
                        {
                            // The decision slot must exist before the session can answer.
                            _pendingBody = parsed.Command;
                            Volatile.Write(ref _bodyDecision, new TaskCompletionSource<BodyTarget?>(TaskCreationOptions.RunContinuationsAsynchronously));
                            _session.Tell(new SessionInput.Command(parsed.Command, Followed: parsed.Command is DataCommand && !reader.End));
                            return SmtpInput.Command;
                        }
                        _session.Tell(new SessionInput.Command(parsed.Command!, Followed: !reader.End));
                        if (parsed.Command is QuitCommand)
                        {
                            // RFC 5321 section 4.1.1.10: the session answers 221 and closes; nothing after QUIT is read.
                            // No read is left pending either, for a client that resets the connection once it has the
                            // 221 (Postfix's smtp-source does) to fail with an exception.
                            _quitRead = true;
                            return SmtpInput.NeedMore;
                        }
                        continue;
                    default:
                        return input;
                }
            }
        }
        finally
        {
            consumed = reader.Position;
        }
    }

    private void BeginBody(BodyTarget? target)
    {
        _target = target;
        switch (_pendingBody)
        {
            case DataCommand:
                _wire.BeginData(target?.Decoder as DataDecoder);
                if (target is null)
                    _pendingBody = null; // refused: back to commands
                break;
            case BdatCommand bdat:
                _wire.BeginChunk(bdat.Size, target?.Decoder as BdatDecoder);
                break;
        }
        target?.TakePrefix(_body);
    }

    /// <summary>The end of DATA, or of a BDAT chunk: commit the body if it is complete and good, then tell the session.</summary>
    private async Task EndBodyAsync(SmtpInput end)
    {
        var target = _target;
        var error = _writeError;
        _writeError = null;
        var decoder = target?.Decoder;
        var last = _pendingBody is DataCommand || (_pendingBody as BdatCommand)?.Last == true;
        if (last)
            _target = null;
        if (decoder is BdatDecoder bdatDecoder && last)
            bdatDecoder.Finish(_body);
        if (target is not null)
            error ??= await DrainBodyAsync(target, last).ConfigureAwait(false);
        if (target is not null && last && error is null && !decoder!.Failed)
            error = await CommitAsync(target).ConfigureAwait(false);
        if (end == SmtpInput.DataEnd)
            _session.Tell(new SessionInput.DataRead(decoder?.Size ?? 0, decoder?.Rejection, error));
        else
            _session.Tell(new SessionInput.ChunkRead(((BdatCommand)_pendingBody!).Size, last, decoder?.Rejection, error));
        _pendingBody = null;
    }

    /// <summary>Writes what the decoder produced to the spool, through the content checks when there are any (and, at the end, what they held back).</summary>
    private async Task<Exception?> DrainBodyAsync(BodyTarget target, bool last = false)
    {
        try
        {
            if (_body.WrittenCount > 0)
                await target.Writer.WriteAsync(target.Scanner is { } scanner ? scanner.Scan(_body.WrittenSpan) : _body.WrittenMemory).ConfigureAwait(false);
            if (last && target.Scanner is { } finishing)
                await target.Writer.WriteAsync(finishing.Finish()).ConfigureAwait(false);
            return null;
        }
        catch (Exception e) when (e is IOException || target.Scanner is not null)
        {
            return e; // a spool write error, or a content check that failed: the session answers 451, the client retries
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
            await target.Writer.CommitAsync().ConfigureAwait(false);
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
        if (timeout <= TimeSpan.Zero)
            return null;
        try
        {
            return await _input.ReadAsync(Arm(ref _readDeadline, timeout)).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }
}

/// <summary>What the connection reads after a STARTTLS, an AUTH or a SASL response, as the session decides.</summary>
internal enum NextInput
{
    Commands,
    SaslResponse,
    StartTls,
}
