using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Akka.Actor;
using Engine.Mailbox.Access;
using Engine.Messages.Mailbox;
using Engine.Network;
using Engine.Network.Tls;
using Engine.Primitives;
using Engine.Protocols.Pop3;
using Engine.Protocols.Sasl;
using Engine.Protocols.Smtp;
using Engine.Storage.Accounts;
using Engine.Storage.Maildir;
using Microsoft.Extensions.Logging;

namespace Engine.Mailbox.Pop3;

/// <summary>
/// One POP3 session: reads command lines (pipelined ones in order, RFC 2449), lets <see cref="Pop3Protocol"/>
/// decide, and does what it asks: checks passwords against the directory, opens the maildrop from the
/// account's <c>Mailbox</c> entity (UIDs; the unique-id is Dovecot's %08Xu%08Xv, so it stays the same across
/// sessions and restarts), sends message files from Maildir dot-stuffed, and on QUIT asks the entity to
/// expunge what was deleted. Failed logins wait longer each time and end the session after
/// <c>max-auth-failures</c>; bad lines get -ERR, and the session ends after <c>max-errors</c>.
/// </summary>
internal sealed class Pop3Connection(Socket socket, IPAddress remote, AccessSettings settings, IActorRef mailboxes, IRecipientDirectory directory,
    MaildirStore maildir, ServerTls tls, bool implicitTls, IReadOnlyList<string> mechanisms, LoginGuard guard, ILogger log)
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(30);
    private readonly Pop3Protocol _protocol = new(settings.PlaintextOnLoopback && IPAddress.IsLoopback(remote), settings.Hostname, tlsAvailable: true,
        new SaslMechanisms(mechanisms, directory, settings.Hostname));
    private readonly Dictionary<long, MailMessage> _files = [];
    private Stream _stream = null!;
    private bool _startTls; // STLS answered: the handshake comes before anything more is read
    private string _account = "";
    private readonly string _session = Guid.NewGuid().ToString("N");
    private string? _locked; // the account whose POP3 lock this session holds
    private int _errors;
    private int _failures;
    private int _retrieved;
    private long _bytes;

    public async Task RunAsync(CancellationToken stop)
    {
        using var owned = socket;
        PeerStream peer;
        _stream = peer = new PeerStream(socket, ownsSocket: false);
        if (implicitTls && !await StartTlsAsync(stop).ConfigureAwait(false))
            return;
        var input = PipeReader.Create(_stream, new StreamPipeReaderOptions(leaveOpen: true));
        var lines = new SmtpLineReader(Pop3Parser.MaxLine);
        var why = "Connection closed";
        try
        {
            await WriteAsync(_protocol.Greeting).ConfigureAwait(false);
            var open = true;
            while (open)
            {
                var (read, idleWhy) = await IdleRead.ReadAsync(input, settings.IdleTimeout, stop).ConfigureAwait(false);
                if (read is not { } result)
                {
                    why = idleWhy;
                    await WriteAsync($"-ERR {why}.").ConfigureAwait(false);
                    break;
                }
                var (framed, consumed) = Frame(lines, result.Buffer);
                input.AdvanceTo(consumed, result.Buffer.End);
                foreach (var line in framed)
                {
                    open = line is null ? await BadAsync("line too long").ConfigureAwait(false) : await HandleAsync(line).ConfigureAwait(false);
                    if (!open || _startTls)
                        break; // what was pipelined after QUIT (or a fatal error, or STLS) is not answered
                }
                if (_startTls)
                {
                    // Plaintext sent after STLS, before the handshake, is dropped (the CVE-2011-0411 class of injection).
                    _startTls = false;
                    await input.CompleteAsync().ConfigureAwait(false);
                    input = PipeReader.Create(Stream.Null);
                    if (!await StartTlsAsync(stop).ConfigureAwait(false))
                    {
                        why = "TLS handshake failed";
                        break;
                    }
                    input = PipeReader.Create(_stream, new StreamPipeReaderOptions(leaveOpen: true));
                    lines = new SmtpLineReader(Pop3Parser.MaxLine);
                    continue;
                }
                if (result.IsCompleted && open)
                {
                    why = peer.PeerReset ? "Connection lost" : "Connection closed"; // a reset throws nothing (PeerStream)
                    break;
                }
                if (!open)
                    why = _protocol.State == Pop3State.Update ? "Logged out" : "Session ended";
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            why = "Connection lost";
        }
        finally
        {
            if (_locked is { } locked)
                mailboxes.Tell(new MailboxCommands.Pop3Lock(locked, _session, Release: true));
            await input.CompleteAsync().ConfigureAwait(false);
            if (_account.Length > 0)
            {
                var deleted = _protocol.State == Pop3State.Update ? _protocol.Maildrop.DeletedUids.Count() : 0;
                Pop3Log.LoggedOut(log, _account, why, _retrieved, _bytes, deleted, _protocol.Maildrop.All.Count);
            }
            else
            {
                AccessLog.Disconnected(log, "pop3", why, remote.ToString());
            }
            await ServerTls.CloseAsync(_stream).ConfigureAwait(false);
        }
    }

    /// <summary>The TLS handshake over the connection; false (logged) when it fails.</summary>
    private async Task<bool> StartTlsAsync(CancellationToken stop)
    {
        try
        {
            var secure = await tls.AuthenticateAsync(_stream, stop).ConfigureAwait(false);
            _stream = secure;
            _protocol.TlsStarted();
            Pop3Log.Tls(log, remote.ToString(), ServerTls.Describe(secure));
            return true;
        }
        catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException or SocketException)
        {
            AccessLog.Disconnected(log, "pop3", "TLS handshaking failed: " + e.Message, remote.ToString());
            return false;
        }
    }

    /// <summary>The complete lines in what was read (null for one over the limit), and how far they reach.</summary>
    private static (List<byte[]?> Lines, SequencePosition Consumed) Frame(SmtpLineReader lines, ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        var framed = new List<byte[]?>();
        while (true)
        {
            var status = lines.TryRead(ref reader, out var line);
            if (status == LineStatus.NeedMore)
                return (framed, reader.Position);
            framed.Add(status == LineStatus.Line ? line.ToArray() : null);
        }
    }

    /// <summary>One line; false when the session ends.</summary>
    private async Task<bool> HandleAsync(byte[] line)
    {
        Pop3Action action;
        if (_protocol.AwaitingSaslResponse)
        {
            action = _protocol.SaslResponse(Encoding.ASCII.GetString(line));
        }
        else if (Pop3Parser.TryParse(line, out var command, out var error))
        {
            action = _protocol.Handle(command!);
        }
        else
        {
            return await BadAsync(error).ConfigureAwait(false);
        }
        switch (action)
        {
            case Pop3Action.Reply reply:
                await WriteAsync(reply.Text).ConfigureAwait(false);
                return true;
            case Pop3Action.Continue next:
                await WriteAsync("+ " + next.Challenge).ConfigureAwait(false);
                return true;
            case Pop3Action.StartTls start:
                await WriteAsync(start.Text).ConfigureAwait(false);
                _startTls = true;
                return true;
            case Pop3Action.Close close:
                await WriteAsync(close.Text).ConfigureAwait(false);
                return false;
            case Pop3Action.Authenticate login:
                return await AuthenticateAsync(login).ConfigureAwait(false);
            case Pop3Action.Authenticated proved when await GuardAsync(proved.User).ConfigureAwait(false) is { } blocked:
                await WriteAsync(blocked).ConfigureAwait(false);
                return true;
            case Pop3Action.Authenticated proved when directory.Current.FindUser(proved.User) is { Enabled: true } user:
                return await OpenAsync(user, proved.Method).ConfigureAwait(false);
            case Pop3Action.Authenticated proved:
                return await LoginFailedAsync(proved.User, "no enabled user").ConfigureAwait(false);
            case Pop3Action.AuthFailed failed:
                return await LoginFailedAsync(failed.User, failed.Reason).ConfigureAwait(false);
            case Pop3Action.SendMessage send:
                await SendAsync(send).ConfigureAwait(false);
                return true;
            case Pop3Action.Update update:
                await UpdateAsync(update).ConfigureAwait(false);
                return false;
            default:
                throw new InvalidOperationException($"unknown POP3 action {action}");
        }
    }

    private async Task<bool> BadAsync(string error)
    {
        Pop3Log.BadInput(log, remote.ToString(), error);
        if (++_errors >= settings.MaxErrors)
        {
            await WriteAsync("-ERR Too many invalid commands.").ConfigureAwait(false);
            return false;
        }
        await WriteAsync(Pop3Protocol.Invalid(error).Text).ConfigureAwait(false);
        return true;
    }

    /// <summary>The brute-force guard before a password is looked at: a wait, or the refusal when blocked.</summary>
    private async Task<string?> GuardAsync(string account)
    {
        var verdict = guard.Check(remote, account);
        if (verdict.Blocked)
        {
            Pop3Log.LoginFailed(log, account, _failures, remote.ToString(), $"blocked until {verdict.BlockedUntil:u} after too many failed logins");
            return "-ERR [SYS/TEMP] Too many failed logins; try again later.";
        }
        if (verdict.Delay > TimeSpan.Zero)
            await Task.Delay(verdict.Delay).ConfigureAwait(false);
        return null;
    }

    private async Task<bool> AuthenticateAsync(Pop3Action.Authenticate login)
    {
        if (await GuardAsync(login.User).ConfigureAwait(false) is { } blocked)
        {
            await WriteAsync(blocked).ConfigureAwait(false);
            return true;
        }
        var user = directory.Current.FindUser(login.User);
        if (!PasswordHasher.VerifyUser(user, login.Password) || user is null)
            return await LoginFailedAsync(login.User, "password mismatch or unknown user").ConfigureAwait(false);
        directory.PasswordVerified(user, login.Password);
        return await OpenAsync(user, login.Method).ConfigureAwait(false);
    }

    /// <summary>A failed login: logged with its reason (never a password), and a delay that grows with each (Dovecot's auth_failure_delay).</summary>
    private async Task<bool> LoginFailedAsync(string name, string reason)
    {
        _failures++;
        guard.Failed(remote, name.Length > 0 ? name : null);
        Pop3Log.LoginFailed(log, name, _failures, remote.ToString(), reason);
        await Task.Delay(settings.AuthFailureDelay * _failures).ConfigureAwait(false);
        if (_failures >= settings.MaxAuthFailures)
        {
            await WriteAsync("-ERR [AUTH] Too many failed logins, disconnecting.").ConfigureAwait(false);
            return false;
        }
        await WriteAsync(Pop3Protocol.LoginFailed.Text).ConfigureAwait(false);
        return true;
    }

    /// <summary>The user is who they said: the maildrop is opened (and locked, with lock-session).</summary>
    private async Task<bool> OpenAsync(UserEntry user, string method)
    {
        guard.Succeeded(user.Address);
        MailboxReplies.Listing listing;
        try
        {
            if (settings.LockSession && !(await mailboxes.Ask<MailboxReplies.Pop3Locked>(
                    new MailboxCommands.Pop3Lock(user.Address, _session, LeaseSeconds: (long)settings.IdleTimeout.TotalSeconds * 2), AskTimeout)
                    .ConfigureAwait(false)).Granted)
            {
                await WriteAsync(Pop3Protocol.InUse.Text).ConfigureAwait(false);
                return true;
            }
            _locked = settings.LockSession ? user.Address : null;
            listing = await mailboxes.Ask<MailboxReplies.Listing>(new MailboxCommands.List(user.Address), AskTimeout).ConfigureAwait(false);
        }
        catch (AskTimeoutException e)
        {
            Pop3Log.Failed(log, user.Address, "opening the mailbox", e.Message);
            await WriteAsync(Pop3Protocol.TemporaryFailure.Text).ConfigureAwait(false);
            return true;
        }
        _account = user.Address;
        var messages = listing.Messages.Select((m, i) => new Pop3Message(i + 1, UniqueId(m.Uid, listing.UidValidity), m.Size, m.Uid)).ToArray();
        foreach (var m in listing.Messages)
            _files[m.Uid] = m;
        Pop3Log.Login(log, user.Address, method, remote.ToString());
        await WriteAsync(_protocol.LoggedIn(user.Address, new Pop3Maildrop(messages)).Text).ConfigureAwait(false);
        return true;
    }

    /// <summary>Dovecot's default pop3_uidl_format, %08Xu%08Xv: the same message keeps its unique-id.</summary>
    private static string UniqueId(long uid, long uidValidity) => string.Create(CultureInfo.InvariantCulture, $"{uid:X8}{uidValidity:X8}");

    /// <summary>
    /// RETR streams the file through the dot-stuffer in 64 KiB pieces (a large message is never held whole);
    /// TOP reads the file and sends its header and first lines.
    /// </summary>
    private async Task SendAsync(Pop3Action.SendMessage send)
    {
        await using var file = _files.TryGetValue(send.Message.Uid, out var message) ? OpenMessage(message) : null;
        if (file is null)
        {
            await WriteAsync("-ERR [SYS/TEMP] The message is gone from the mailbox.").ConfigureAwait(false);
            return;
        }
        var stuffer = new DotStuffer();
        var output = new ArrayBufferWriter<byte>(64 * 1024 + 1024);
        if (send.TopLines is { } lines)
        {
            var bytes = new byte[file.Length];
            await file.ReadExactlyAsync(bytes).ConfigureAwait(false);
            output.Write("+OK\r\n"u8);
            stuffer.Write(bytes.AsSpan(0, Pop3Top.Length(bytes, lines)), output);
            stuffer.Finish(output);
            await _stream.WriteAsync(output.WrittenMemory).ConfigureAwait(false);
            return;
        }
        output.Write(Encoding.ASCII.GetBytes($"+OK {file.Length} octets\r\n"));
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int read;
            while ((read = await file.ReadAsync(buffer.AsMemory(0, 64 * 1024)).ConfigureAwait(false)) > 0)
            {
                stuffer.Write(buffer.AsSpan(0, read), output);
                await _stream.WriteAsync(output.WrittenMemory).ConfigureAwait(false);
                output.ResetWrittenCount();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        stuffer.Finish(output);
        await _stream.WriteAsync(output.WrittenMemory).ConfigureAwait(false);
        _retrieved++;
        _bytes += file.Length;
    }

    /// <summary>
    /// The message file, opened; found again if another reader (Dovecot) moved it from new/ to cur/ or
    /// renamed it for a flag between the lookup and the open; null when it is gone. Once open, a move or
    /// delete does not disturb the read.
    /// </summary>
    private FileStream? OpenMessage(MailMessage message)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            // Where its flags put it first (no listing of cur/), then wherever it is.
            var path = attempt == 0 ? maildir.Locate(_account, message.FileName, message.Cur, message.FlagList) : maildir.Find(_account, message.FileName);
            if (path is null)
                return null;
            try
            {
                return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.Asynchronous);
            }
            catch (FileNotFoundException)
            {
                // moved meanwhile: look again
            }
        }
        return null;
    }

    private async Task UpdateAsync(Pop3Action.Update update)
    {
        if (update.DeletedUids.Count == 0)
        {
            await WriteAsync("+OK Logging out.").ConfigureAwait(false);
            return;
        }
        try
        {
            var expunged = await mailboxes.Ask<MailboxReplies.Expunged>(new MailboxCommands.Expunge(_account, update.DeletedUids), AskTimeout)
                .ConfigureAwait(false);
            // RFC 1939 section 6: if some message could not be removed, the answer to QUIT is -ERR.
            await WriteAsync(expunged.Uids.Count == update.DeletedUids.Count
                ? "+OK Logging out, messages deleted."
                : "-ERR [SYS/TEMP] Some deleted messages were not removed.").ConfigureAwait(false);
        }
        catch (AskTimeoutException e)
        {
            Pop3Log.Failed(log, _account, "expunge", e.Message);
            await WriteAsync("-ERR [SYS/TEMP] Some deleted messages were not removed.").ConfigureAwait(false);
        }
    }

    private Task WriteAsync(string text) => _stream.WriteAsync(Encoding.ASCII.GetBytes(text + "\r\n")).AsTask();
}
