using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Engine.Messages;
using Engine.Primitives;
using Engine.Protocols.Smtp;

namespace Engine.Delivery.Smtp;

/// <summary>The outcome for one recipient: the reply that decided it (2xx sent, 4xx deferred, 5xx bounced).</summary>
public sealed record RecipientOutcome(string Address, SmtpReply Reply);

/// <summary>Per-stage limits of the SMTP client (Postfix's smtp_connect_timeout, smtp_helo_timeout, ...).</summary>
public sealed record SmtpClientTimeouts(TimeSpan Connect, TimeSpan Command, TimeSpan DataBlock, TimeSpan DataDone)
{
    public static readonly SmtpClientTimeouts Default = new(
        TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(300), TimeSpan.FromSeconds(180), TimeSpan.FromSeconds(600));
}

/// <summary>
/// The server would not talk (a greeting other than 220, or EHLO and HELO refused): the session never
/// started, so another MX host may be tried; <see cref="Reply"/> is what it said.
/// </summary>
public sealed class SmtpSessionRefusedException(SmtpReply reply) : Exception($"{reply}")
{
    public SmtpReply Reply { get; } = reply;
}

/// <summary>
/// One open SMTP session to a server (Postfix's smtp(8) side of it): connected, greeted, EHLO'd (HELO if
/// refused), and under TLS when the server offers STARTTLS and <c>tls</c> allows it (opportunistic, no
/// certificate check: Postfix's "may"; a failed handshake is retried once in plaintext). It sends one
/// message at a time: MAIL with SIZE, BODY, SMTPUTF8 and DSN's RET/ENVID when offered, RCPT with
/// NOTIFY/ORCPT, DATA with the spool's octets dot-stuffed as they stream (never re-serialized). With
/// PIPELINING, MAIL, every RCPT and DATA go in one write (RFC 2920); with CHUNKING too, MAIL, every RCPT and the
/// message itself as one BDAT (RFC 3030), so a message costs one round trip. After a message the session may be
/// kept for the next one (RSET first, to see that it is still alive).
/// </summary>
public sealed class SmtpClientConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly SmtpClientTimeouts _timeouts;
    private readonly CancellationToken _ct;
    private readonly SmtpReplyReader _replies = new();
    private Stream _stream;
    private PipeReader _input;
    private HashSet<string> _extensions = new(StringComparer.OrdinalIgnoreCase);
    private long? _maxSize;

    private SmtpClientConnection(Socket socket, IPEndPoint server, SmtpClientTimeouts timeouts, CancellationToken ct)
    {
        _socket = socket;
        Server = server;
        _timeouts = timeouts;
        _ct = ct;
        _stream = new NetworkStream(socket, ownsSocket: false);
        _input = PipeReader.Create(_stream, new StreamPipeReaderOptions(leaveOpen: true));
    }

    public IPEndPoint Server { get; }

    /// <summary>Whether the session runs under TLS (STARTTLS).</summary>
    public bool Tls { get; private set; }

    /// <summary>Whether the server said yes to STARTTLS (the handshake may still have failed).</summary>
    private bool _handshaking;

    /// <summary>Whether the server's last EHLO reply named this extension (DSN, say).</summary>
    public bool Offers(string extension) => _extensions.Contains(extension);

    /// <summary>When the connection was made (for the reuse time limit).</summary>
    public DateTimeOffset OpenedAt { get; } = DateTimeOffset.UtcNow;

    /// <summary>False after an I/O failure, a timeout, or a 421: the session must not be used again.</summary>
    public bool Usable { get; private set; } = true;

    /// <summary>
    /// Connects and starts a session. Throws <see cref="SocketException"/>, <see cref="IOException"/> or
    /// <see cref="OperationCanceledException"/> when the server cannot be reached or does not greet, and
    /// <see cref="SmtpSessionRefusedException"/> when it refuses to talk.
    /// </summary>
    public static async Task<SmtpClientConnection> OpenAsync(IPEndPoint server, string helo, bool tls, SmtpClientTimeouts timeouts,
        CancellationToken ct = default)
    {
        var connection = await ConnectAsync(server, timeouts, ct).ConfigureAwait(false);
        try
        {
            await connection.StartAsync(helo, tls).ConfigureAwait(false);
            return connection;
        }
        catch (Exception e) when (connection._handshaking && !connection.Tls && e is AuthenticationException or IOException)
        {
            // Opportunistic TLS: a handshake that fails is no reason to fail the delivery.
            await connection.DisposeAsync().ConfigureAwait(false);
            var plain = await ConnectAsync(server, timeouts, ct).ConfigureAwait(false);
            try
            {
                await plain.StartAsync(helo, tls: false).ConfigureAwait(false);
                return plain;
            }
            catch
            {
                await plain.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<SmtpClientConnection> ConnectAsync(IPEndPoint server, SmtpClientTimeouts timeouts, CancellationToken ct)
    {
        var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var connect = CancellationTokenSource.CreateLinkedTokenSource(ct);
            connect.CancelAfter(timeouts.Connect);
            await socket.ConnectAsync(server, connect.Token).ConfigureAwait(false);
            return new SmtpClientConnection(socket, server, timeouts, ct);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task StartAsync(string helo, bool tls)
    {
        var greeting = await ReadAsync(_timeouts.Command).ConfigureAwait(false);
        if (greeting.Code != 220)
            throw new SmtpSessionRefusedException(greeting);
        await HelloAsync(helo).ConfigureAwait(false);
        if (!tls || !_extensions.Contains("STARTTLS"))
            return;
        var ready = await CommandAsync("STARTTLS").ConfigureAwait(false);
        if (ready.Code != 220)
            return; // offered but refused: go on in plaintext, as Postfix's "may"
        _handshaking = true;
        var ssl = new SslStream(_stream, leaveInnerStreamOpen: false, (_, _, _, _) => true);
        using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(_ct))
        {
            deadline.CancelAfter(_timeouts.Command);
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = Server.Address.ToString() }, deadline.Token)
                .ConfigureAwait(false);
        }
        Tls = true;
        _stream = ssl;
        _input = PipeReader.Create(_stream, new StreamPipeReaderOptions(leaveOpen: true));
        await HelloAsync(helo).ConfigureAwait(false); // RFC 3207 section 4.2: forget what was said before TLS
    }

    private async Task HelloAsync(string helo)
    {
        _extensions = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        _maxSize = null;
        var ehlo = await CommandAsync($"EHLO {helo}").ConfigureAwait(false);
        if (ehlo.IsPositive)
        {
            foreach (var line in ehlo.Lines.Skip(1))
            {
                var parts = line.Split(' ', 2);
                _extensions.Add(parts[0]);
                if (parts[0].Equals("SIZE", StringComparison.OrdinalIgnoreCase) && parts.Length == 2 && long.TryParse(parts[1], out var n) && n > 0)
                    _maxSize = n;
            }
            return;
        }
        var heloReply = await CommandAsync($"HELO {helo}").ConfigureAwait(false);
        if (!heloReply.IsPositive)
            throw new SmtpSessionRefusedException(heloReply);
    }

    /// <summary>RSET before a session is used again: true when the server still answers 250.</summary>
    public async Task<bool> ResetAsync()
    {
        try
        {
            var reply = await CommandAsync("RSET", TimeSpan.FromSeconds(20)).ConfigureAwait(false); // Postfix's smtp_rset_timeout
            Usable = reply.Code == 250;
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or FormatException or SocketException)
        {
            Usable = false;
        }
        return Usable;
    }

    /// <summary>
    /// Sends one message; every recipient gets the reply that decided it. I/O failures and timeouts
    /// throw (the session is then unusable); a 421 anywhere makes it unusable too.
    /// </summary>
    public async Task<IReadOnlyList<RecipientOutcome>> SendAsync(Envelope envelope, Func<Stream> openBody)
    {
        try
        {
            var outcomes = await TransactionAsync(envelope, openBody).ConfigureAwait(false);
            if (outcomes.Any(o => o.Reply.Code == 421))
                Usable = false;
            return outcomes;
        }
        catch
        {
            Usable = false;
            throw;
        }
    }

    private async Task<IReadOnlyList<RecipientOutcome>> TransactionAsync(Envelope envelope, Func<Stream> openBody)
    {
        var recipients = envelope.Recipients;
        IReadOnlyList<RecipientOutcome> All(SmtpReply reply) => recipients.Select(r => new RecipientOutcome(r.Address, reply)).ToArray();

        if (_maxSize is { } limit && envelope.Size > limit)
            return All(new SmtpReply(552, "5.3.4", $"message size {envelope.Size} exceeds the limit of {Server}, {limit}"));
        if (envelope.SmtpUtf8 && !_extensions.Contains("SMTPUTF8"))
            return All(new SmtpReply(553, "5.6.7", $"{Server} does not support SMTPUTF8, which the message needs"));

        var dsn = _extensions.Contains("DSN");
        var mail = new StringBuilder("MAIL FROM:<").Append(envelope.Sender).Append('>');
        if (_maxSize is not null)
            mail.Append(CultureInfo.InvariantCulture, $" SIZE={envelope.Size}");
        if (envelope.Body == BodyType.EightBitMime && _extensions.Contains("8BITMIME"))
            mail.Append(" BODY=8BITMIME");
        if (envelope.SmtpUtf8)
            mail.Append(" SMTPUTF8");
        if (dsn && envelope.Ret != DsnReturn.Unspecified)
            mail.Append(envelope.Ret == DsnReturn.Full ? " RET=FULL" : " RET=HDRS");
        if (dsn && envelope.EnvId is { } envId)
            mail.Append(" ENVID=").Append(Xtext.Encode(envId));
        var commands = new List<string> { mail.ToString() };
        foreach (var r in recipients)
        {
            var rcpt = new StringBuilder("RCPT TO:<").Append(r.Address).Append('>');
            if (dsn && r.Notify != DsnNotify.Unspecified)
                rcpt.Append(" NOTIFY=").Append(NotifyText(r.Notify));
            if (dsn && r.Orcpt is { } orcpt)
                rcpt.Append(" ORCPT=").Append(r.OrcptType ?? "rfc822").Append(';').Append(Xtext.Encode(orcpt));
            commands.Add(rcpt.ToString());
        }
        // With CHUNKING and PIPELINING the message goes as one "BDAT <size> LAST" in the write that carries MAIL and
        // RCPT (RFC 3030, RFC 2920): one round trip per message, where DATA takes two (its 354 comes first).
        // Only a body that fits a few socket buffers goes before the replies: a large one waits for them (DATA), so a
        // refused MAIL or RCPT is not followed by megabytes the server may not read.
        Stream? opened = null;
        try
        {
            if (_extensions.Contains("CHUNKING") && _extensions.Contains("PIPELINING"))
            {
                opened = openBody();
                if (opened.CanSeek && opened.Length <= ChunkedLimit)
                    return await ChunkedAsync(commands, recipients, opened).ConfigureAwait(false);
                var body = opened; // DATA sends it; not opened twice (the database spool cannot seek)
                openBody = () => body;
            }
            return await DataAsync(commands, recipients, openBody).ConfigureAwait(false);
        }
        finally
        {
            if (opened is not null)
                await opened.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The largest body sent pipelined as one BDAT, before the replies to MAIL and RCPT.</summary>
    private const int ChunkedLimit = 256 * 1024;

    private async Task<IReadOnlyList<RecipientOutcome>> DataAsync(List<string> commands, IReadOnlyList<EnvelopeRecipient> recipients, Func<Stream> openBody)
    {
        IReadOnlyList<RecipientOutcome> All(SmtpReply reply) => recipients.Select(r => new RecipientOutcome(r.Address, reply)).ToArray();
        commands.Add("DATA");

        // With PIPELINING the whole group goes at once and the replies are read in order; without it,
        // one command and one reply at a time.
        var replies = new List<SmtpReply>();
        if (_extensions.Contains("PIPELINING"))
        {
            await WriteAsync(string.Concat(commands.Select(c => c + "\r\n"))).ConfigureAwait(false);
            foreach (var _ in commands)
                replies.Add(await ReadAsync(_timeouts.Command).ConfigureAwait(false));
        }
        else
        {
            foreach (var command in commands)
            {
                var reply = await CommandAsync(command).ConfigureAwait(false);
                replies.Add(reply);
                if (replies.Count == 1 && !reply.IsPositive)
                    break; // MAIL refused
                if (command == "DATA" || (replies.Count == commands.Count - 1 && replies.Skip(1).All(r => !r.IsPositive)))
                    break;
            }
        }
        if (!replies[0].IsPositive)
            return All(replies[0]);
        var rcptReplies = recipients.Select((r, i) => i + 1 < replies.Count ? replies[i + 1] : replies[^1]).ToArray();
        var accepted = rcptReplies.Count(r => r.IsPositive);
        var dataReply = replies.Count == commands.Count ? replies[^1] : null;
        if (accepted == 0 && dataReply?.Code == 354)
        {
            // Pipelined DATA went through although no RCPT did: end it empty (RFC 2920 section 3.1), so the
            // session is in step again.
            await WriteAsync(".\r\n").ConfigureAwait(false);
            await ReadAsync(_timeouts.DataDone).ConfigureAwait(false);
        }
        if (accepted == 0 || dataReply is null || dataReply.Code != 354)
        {
            var failure = accepted == 0 ? null : dataReply ?? new SmtpReply(451, "4.4.2", "no reply to DATA");
            return recipients.Select((r, i) => new RecipientOutcome(r.Address, rcptReplies[i].IsPositive ? failure! : rcptReplies[i])).ToArray();
        }

        await SendBodyAsync(openBody).ConfigureAwait(false);
        var final = await ReadAsync(_timeouts.DataDone).ConfigureAwait(false);
        return recipients.Select((r, i) => new RecipientOutcome(r.Address, rcptReplies[i].IsPositive ? final : rcptReplies[i])).ToArray();
    }

    /// <summary>
    /// MAIL, the RCPTs and the message as "BDAT &lt;size&gt; LAST", then the replies in order. The spool's octets go
    /// as they are (BDAT needs no dot-stuffing), with a CRLF after them when the last octet is not a LF, as DATA adds
    /// it: the body must seek, to learn its last octet before the size is written. A refused chunk leaves the session
    /// to be closed: a server that refused it may not have read past it.
    /// </summary>
    private async Task<IReadOnlyList<RecipientOutcome>> ChunkedAsync(List<string> commands, IReadOnlyList<EnvelopeRecipient> recipients, Stream body)
    {
        var length = body.Length;
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            var addCrLf = true;
            if (length >= 1)
            {
                body.Seek(length - 1, SeekOrigin.Begin);
                await body.ReadExactlyAsync(buffer.AsMemory(0, 1), _ct).ConfigureAwait(false);
                addCrLf = buffer[0] != '\n';
                body.Seek(0, SeekOrigin.Begin);
            }
            commands.Add(string.Create(CultureInfo.InvariantCulture, $"BDAT {length + (addCrLf ? 2 : 0)} LAST"));
            var output = new ArrayBufferWriter<byte>(64 * 1024);
            Encoding.UTF8.GetBytes(string.Concat(commands.Select(c => c + "\r\n")), output);
            long sent = 0;
            int read;
            while (sent < length && (read = await body.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, length - sent)), _ct).ConfigureAwait(false)) > 0)
            {
                output.Write(buffer.AsSpan(0, read));
                sent += read;
                if (output.WrittenCount >= 64 * 1024)
                {
                    await WriteAsync(output.WrittenMemory, _timeouts.DataBlock).ConfigureAwait(false);
                    output.ResetWrittenCount();
                }
            }
            if (sent != length)
                throw new IOException($"the spool gave {sent} of the body's {length} octets");
            if (addCrLf)
                output.Write("\r\n"u8);
            await WriteAsync(output.WrittenMemory, _timeouts.DataBlock).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        var replies = new List<SmtpReply>();
        for (var i = 0; i < commands.Count; i++)
            replies.Add(await ReadAsync(i < commands.Count - 1 ? _timeouts.Command : _timeouts.DataDone).ConfigureAwait(false));
        var final = replies[^1];
        if (!final.IsPositive)
            Usable = false;
        if (!replies[0].IsPositive)
            return recipients.Select(r => new RecipientOutcome(r.Address, replies[0])).ToArray();
        return recipients.Select((r, i) => new RecipientOutcome(r.Address, replies[i + 1].IsPositive ? final : replies[i + 1])).ToArray();
    }

    private static string NotifyText(DsnNotify notify) =>
        notify.HasFlag(DsnNotify.Never)
            ? "NEVER"
            : string.Join(",", new[] { (DsnNotify.Success, "SUCCESS"), (DsnNotify.Failure, "FAILURE"), (DsnNotify.Delay, "DELAY") }
                .Where(p => notify.HasFlag(p.Item1)).Select(p => p.Item2));

    private async Task SendBodyAsync(Func<Stream> openBody)
    {
        var stuffer = new DotStuffer();
        var output = new ArrayBufferWriter<byte>(64 * 1024);
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            await using var body = openBody();
            int read;
            while ((read = await body.ReadAsync(buffer, _ct).ConfigureAwait(false)) > 0)
            {
                stuffer.Write(buffer.AsSpan(0, read), output);
                await WriteAsync(output.WrittenMemory, _timeouts.DataBlock).ConfigureAwait(false);
                output.ResetWrittenCount();
            }
            stuffer.Finish(output);
            await WriteAsync(output.WrittenMemory, _timeouts.DataBlock).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>QUIT, without caring for the answer: the messages' fates are settled.</summary>
    public async Task QuitAsync()
    {
        if (!Usable)
            return;
        Usable = false;
        try
        {
            await CommandAsync("QUIT", TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or FormatException or SocketException)
        {
            // a rude QUIT changes nothing
        }
    }

    private async Task<SmtpReply> CommandAsync(string line, TimeSpan? timeout = null)
    {
        await WriteAsync(line + "\r\n").ConfigureAwait(false);
        return await ReadAsync(timeout ?? _timeouts.Command).ConfigureAwait(false);
    }

    private Task WriteAsync(string text) => WriteAsync(Encoding.UTF8.GetBytes(text), _timeouts.Command);

    private async Task WriteAsync(ReadOnlyMemory<byte> bytes, TimeSpan timeout)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_ct);
        deadline.CancelAfter(timeout);
        await _stream.WriteAsync(bytes, deadline.Token).ConfigureAwait(false);
    }

    private async Task<SmtpReply> ReadAsync(TimeSpan timeout)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_ct);
        deadline.CancelAfter(timeout);
        while (true)
        {
            var result = await _input.ReadAsync(deadline.Token).ConfigureAwait(false);
            var buffer = result.Buffer;
            // Complete lines are taken by the reply reader even when the reply is not finished yet.
            var done = TryParse(buffer, out var reply, out var consumed);
            _input.AdvanceTo(consumed, done ? consumed : buffer.End);
            if (done)
                return reply;
            if (result.IsCompleted)
                throw new IOException("connection closed by the server");
        }
    }

    private bool TryParse(in ReadOnlySequence<byte> buffer, out SmtpReply reply, out SequencePosition consumed)
    {
        var reader = new SequenceReader<byte>(buffer);
        var done = _replies.TryRead(ref reader, out reply);
        consumed = reader.Position;
        return done;
    }

    public async ValueTask DisposeAsync()
    {
        Usable = false;
        await _input.CompleteAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        _socket.Dispose();
    }
}
