using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using System.Threading.Channels;
using Akka.Actor;
using Engine.Mailbox.Access;
using Engine.Messages.Mailbox;
using Engine.Network;
using Engine.Network.Tls;
using Engine.Primitives;
using Engine.Protocols.Imap;
using Engine.Protocols.Sasl;
using Engine.Storage.Accounts;
using Engine.Storage.Blobs;
using Engine.Storage.Maildir;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Engine.Mailbox.Imap;

/// <summary>
/// One IMAP session (RFC 3501, RFC 9051): reads commands with <see cref="ImapCommandReader"/>, answers them in
/// order, and keeps a <see cref="SelectedMailbox"/> fed by the mailbox entity through an <see cref="ImapWatcher"/>
/// actor, so deliveries and other sessions' changes are announced (at once while IDLE). Flags, expunges and the
/// index live in the <c>Mailbox</c> entity; message octets are read from Maildir.
/// </summary>
internal sealed partial class ImapConnection(Socket socket, IPAddress remote, ImapSettings settings, IActorRef mailboxes, ActorSystem system,
    IRecipientDirectory directory, MaildirStore maildir, IBlobStore blobs, ServerTls tls, bool implicitTls, LoginGuard guard, ILogger log)
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(30);
    private static readonly string[] SystemFlags = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];
    private readonly AccessSettings _access = settings.Access;
    /// <summary>The session's TLS, once its handshake is done (port 993 at once, else after STARTTLS).</summary>
    private SslStream? _tls;
    /// <summary>STARTTLS was answered: the read loop does the handshake before it reads on.</summary>
    private bool _startTls;

    /// <summary>A password may be sent: over TLS, or on loopback when engine.auth.plaintext-on-loopback allows it.</summary>
    private bool _plaintextAllowed => _tls is not null || (_access.PlaintextOnLoopback && IPAddress.IsLoopback(remote));
    private readonly SemaphoreSlim _gate = new(1, 1);
    /// <summary>A client that reads nothing for this long while the server writes to it is gone.</summary>
    private static readonly TimeSpan SendTimeout = TimeSpan.FromMinutes(5);

    /// <summary>Changes that may wait for a session that does not let them be said (a client in a long FETCH loop).</summary>
    private const int MaxPending = 10_000;

    private ArrayBufferWriter<byte> _out = new(4096);
    /// <summary>Literals before LOGIN hold a user name or a password: a client not logged in may not send more.</summary>
    private const long MaxLiteralBeforeLogin = 8 * 1024;

    private readonly ImapCommandReader _reader = new(settings.MaxLine, settings.MaxLiteral) { MaxLiteral = Math.Min(settings.MaxLiteral, MaxLiteralBeforeLogin) };
    private Stream _stream = null!;
    private string _account = "";
    private SelectedMailbox? _selected;
    private string _selectedName = MailboxState.InboxName;
    private bool _utf8;
    private IActorRef? _watcher;
    private volatile string? _idleTag;
    private string? _saslTag;
    private ISaslServer? _sasl; // the exchange an AUTHENTICATE is in, between its challenges
    private bool _condstore;
    private bool _qresync;
    private bool _rev2; // ENABLE IMAP4rev2: RFC 9051's responses instead of RFC 3501's
    private int _errors;
    private int _failures;
    private long _in;
    private long _outBytes;

    private bool Authenticated => _account.Length > 0;

    private string Capabilities =>
        "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MULTIAPPEND CHILDREN CONDSTORE QRESYNC ESEARCH BINARY MOVE SPECIAL-USE "
        + "CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS UTF8=ACCEPT"
        + (_tls is null && !Authenticated ? " STARTTLS" : "")
        + (_plaintextAllowed ? string.Concat(_access.Mechanisms.Select(m => " AUTH=" + m)) : " LOGINDISABLED");

    public async Task RunAsync(CancellationToken stop)
    {
        using var owned = socket;
        PeerStream peer;
        _stream = peer = new PeerStream(socket, ownsSocket: false);
        if (implicitTls && !await StartTlsAsync(stop).ConfigureAwait(false))
            return;
        var input = PipeReader.Create(_stream, new StreamPipeReaderOptions(leaveOpen: true));
        var why = "Connection closed";
        try
        {
            Line($"* OK [CAPABILITY {Capabilities}] {_access.Hostname} Engine IMAP ready.");
            await FlushAsync().ConfigureAwait(false);
            var open = true;
            var events = new List<ImapInput>();
            while (open)
            {
                var (read, idleWhy) = await IdleRead.ReadAsync(input, _access.IdleTimeout, stop).ConfigureAwait(false);
                if (read is not { } result)
                {
                    why = idleWhy;
                    await _gate.WaitAsync(CancellationToken.None).ConfigureAwait(false); // PumpAsync may be writing (IDLE)
                    try
                    {
                        await SendAsync($"* BYE {why}.").ConfigureAwait(false);
                    }
                    finally
                    {
                        _gate.Release();
                    }
                    break;
                }
                var buffer = result.Buffer;
                _in += buffer.Length;
                var remaining = buffer;
                while (open && !remaining.IsEmpty)
                {
                    events.Clear();
                    remaining = remaining.Slice(ReadOne(remaining, events)); // one command at a time: IDLE and AUTHENTICATE change how the rest is read
                    foreach (var e in events)
                    {
                        await _gate.WaitAsync(stop).ConfigureAwait(false);
                        try
                        {
                            open = await HandleAsync(e).ConfigureAwait(false);
                            await FlushAsync().ConfigureAwait(false);
                        }
                        finally
                        {
                            _gate.Release();
                        }
                        if (!open)
                        {
                            why = "Logged out";
                            break;
                        }
                    }
                    if (_startTls)
                        break;
                }
                if (_startTls)
                {
                    // Whatever the client sent after STARTTLS, before the handshake, is dropped unread: plaintext
                    // must not become commands of the protected session (the CVE-2011-0411 class of injection).
                    _startTls = false;
                    input.AdvanceTo(buffer.End);
                    await input.CompleteAsync().ConfigureAwait(false);
                    if (!await StartTlsAsync(stop).ConfigureAwait(false))
                    {
                        why = "TLS handshake failed";
                        input = PipeReader.Create(Stream.Null);
                        break;
                    }
                    input = PipeReader.Create(_stream, new StreamPipeReaderOptions(leaveOpen: true));
                    continue;
                }
                input.AdvanceTo(remaining.Start, buffer.End);
                if (result.IsCompleted && open)
                {
                    if (peer.PeerReset)
                        why = "Connection lost"; // reset by the client: no exception (PeerStream), the same reason
                    break;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            why = "Connection lost";
        }
        finally
        {
            Close();
            await input.CompleteAsync().ConfigureAwait(false);
            if (Authenticated)
                ImapLog.LoggedOut(log, _account, why, _in, _outBytes);
            else
                AccessLog.Disconnected(log, "imap", why, remote.ToString());
            await ServerTls.CloseAsync(_stream).ConfigureAwait(false);
        }
    }

    /// <summary>The TLS handshake over the connection; false (logged) when it fails.</summary>
    private async Task<bool> StartTlsAsync(CancellationToken stop)
    {
        try
        {
            _tls = await tls.AuthenticateAsync(_stream, stop).ConfigureAwait(false);
            _stream = _tls;
            ImapLog.Tls(log, remote.ToString(), ServerTls.Describe(_tls));
            return true;
        }
        catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException or SocketException)
        {
            AccessLog.Disconnected(log, "imap", "TLS handshaking failed: " + e.Message, remote.ToString());
            return false;
        }
    }

    private bool StartTls(string tag)
    {
        if (_tls is not null)
            return Bad(tag, "TLS is already active.");
        _startTls = true;
        Line($"{tag} OK Begin TLS negotiation now.");
        return true;
    }

    /// <summary>Reads up to one command; returns how far it read.</summary>
    private SequencePosition ReadOne(ReadOnlySequence<byte> buffer, List<ImapInput> events)
    {
        var sequence = new SequenceReader<byte>(buffer);
        _reader.Read(ref sequence, events);
        return sequence.Position;
    }

    /// <summary>One input; false when the session ends.</summary>
    private async Task<bool> HandleAsync(ImapInput input)
    {
        switch (input)
        {
            case ImapInput.Continue:
                Line("+ Ready for literal data");
                return true;
            case ImapInput.TooBig big:
                Line($"{big.Tag} NO [TOOBIG] Literal of {big.Size} octets is over the limit of {settings.MaxLiteral}.");
                return true;
            case ImapInput.Fatal fatal:
                ImapLog.BadInput(log, remote.ToString(), fatal.Text);
                Line($"* BYE {fatal.Text}.");
                return false;
            case ImapInput.Bad bad:
                return Bad(bad.Tag ?? "*", bad.Text);
            case ImapInput.Line line when _idleTag is { } idleTag:
                _idleTag = null;
                AnnounceNow(allowExpunge: true);
                if (!line.Text.Equals("DONE", StringComparison.OrdinalIgnoreCase))
                    return Bad(idleTag, "Expected DONE");
                Line($"{idleTag} OK Idle completed.");
                return true;
            case ImapInput.Line line when _saslTag is { } saslTag:
                _saslTag = null;
                return await SaslResponseAsync(saslTag, line.Text).ConfigureAwait(false);
            case ImapInput.Command { Value: var command }:
                return await CommandAsync(command).ConfigureAwait(false);
            default:
                return true;
        }
    }

    private bool Bad(string tag, string text)
    {
        ImapLog.BadInput(log, remote.ToString(), text);
        if (++_errors >= _access.MaxErrors)
        {
            Line("* BYE Too many invalid IMAP commands.");
            return false;
        }
        Line($"{tag} BAD {text}");
        return true;
    }

    private async Task<bool> CommandAsync(ImapCommand c)
    {
        if (_selected is { Gone: true })
        {
            Line("* BYE Selected mailbox was deleted or renamed, have to disconnect.");
            return false;
        }
        var uid = c.Name == "UID";
        var name = uid && c.Args.Count > 0 && c.Args[0] is ImapToken.Atom { Value: var sub } ? sub.ToUpperInvariant() : c.Name;
        var args = uid ? c.Args.Skip(1).ToArray() : c.Args;
        if (uid && name is not ("FETCH" or "STORE" or "SEARCH" or "EXPUNGE" or "COPY" or "MOVE"))
            return Bad(c.Tag, "Unknown UID command");
        var needs = name switch
        {
            "CAPABILITY" or "NOOP" or "LOGOUT" or "ID" => 0,
            "LOGIN" or "AUTHENTICATE" or "STARTTLS" => -1,
            "ENABLE" or "SELECT" or "EXAMINE" or "LIST" or "LSUB" or "STATUS" or "NAMESPACE" or "SUBSCRIBE" or "UNSUBSCRIBE"
                or "CREATE" or "DELETE" or "RENAME" or "APPEND" => 1,
            "FETCH" or "STORE" or "SEARCH" or "EXPUNGE" or "CLOSE" or "UNSELECT" or "CHECK" or "IDLE" or "COPY" or "MOVE" => 2,
            _ => int.MinValue,
        };
        if (needs == int.MinValue)
            return Bad(c.Tag, "Unknown command");
        if ((needs == -1 && Authenticated) || (needs >= 1 && !Authenticated) || (needs == 2 && _selected is null))
            return Bad(c.Tag, needs == -1 ? "Already logged in" : needs == 1 ? "Not logged in" : "No mailbox selected");
        try
        {
            return name switch
            {
                "CAPABILITY" => Done(c.Tag, $"* CAPABILITY {Capabilities}"),
                "NOOP" or "CHECK" => Done(c.Tag, null, allowExpunge: true),
                "LOGOUT" => Logout(c.Tag),
                "STARTTLS" => args.Count == 0 ? StartTls(c.Tag) : Bad(c.Tag, "STARTTLS takes no arguments"),
                "ID" => Done(c.Tag, "* ID (\"name\" \"Engine\")"),
                "LOGIN" => await LoginAsync(c.Tag, args).ConfigureAwait(false),
                "AUTHENTICATE" => await AuthenticateAsync(c.Tag, args).ConfigureAwait(false),
                "ENABLE" => Enable(c.Tag, args),
                "SELECT" or "EXAMINE" => await SelectAsync(c.Tag, args, name == "EXAMINE").ConfigureAwait(false),
                "LIST" or "LSUB" => await ListAsync(c.Tag, name, args).ConfigureAwait(false),
                "STATUS" => await StatusAsync(c.Tag, args).ConfigureAwait(false),
                "NAMESPACE" => Done(c.Tag, "* NAMESPACE ((\"\" \"/\")) NIL NIL"),
                "CREATE" or "DELETE" or "RENAME" or "SUBSCRIBE" or "UNSUBSCRIBE" => await FolderCommandAsync(c.Tag, name, args).ConfigureAwait(false),
                "APPEND" => await AppendAsync(c.Tag, args).ConfigureAwait(false),
                "COPY" or "MOVE" => await CopyAsync(c.Tag, args, uid, name == "MOVE").ConfigureAwait(false),
                "FETCH" => await FetchAsync(c.Tag, args, uid).ConfigureAwait(false),
                "STORE" => await StoreAsync(c.Tag, args, uid).ConfigureAwait(false),
                "SEARCH" => Search(c.Tag, args, uid),
                "EXPUNGE" => await ExpungeAsync(c.Tag, args, uid).ConfigureAwait(false),
                "CLOSE" or "UNSELECT" => await CloseAsync(c.Tag, expunge: name == "CLOSE").ConfigureAwait(false),
                "IDLE" => Idle(c.Tag),
                _ => Bad(c.Tag, "Unknown command"),
            };
        }
        catch (AskTimeoutException e)
        {
            ImapLog.Failed(log, _account, c.Name, e.Message);
            return No(c.Tag, "[UNAVAILABLE] The mailbox did not answer; try again.");
        }
    }

    private bool Done(string tag, string? untagged, bool allowExpunge = false)
    {
        if (untagged is not null)
            Line(untagged);
        AnnounceNow(allowExpunge);
        Line($"{tag} OK Completed.");
        return true;
    }

    private bool No(string tag, string text)
    {
        Line($"{tag} NO {text}");
        return true;
    }

    private bool Logout(string tag)
    {
        Line("* BYE Logging out.");
        Line($"{tag} OK Logout completed.");
        return false;
    }

    private bool Enable(string tag, IReadOnlyList<ImapToken> args)
    {
        var enabled = new List<string>();
        foreach (var capability in args.Select(a => a.Text?.ToUpperInvariant()))
        {
            if (capability == "CONDSTORE" && !_condstore)
            {
                _condstore = true;
                enabled.Add("CONDSTORE");
            }
            else if (capability == "QRESYNC" && !_qresync)
            {
                _qresync = true;
                enabled.Add("QRESYNC"); // RFC 7162: QRESYNC implies CONDSTORE
                if (!_condstore)
                {
                    _condstore = true;
                    enabled.Add("CONDSTORE");
                }
            }
            else if (capability == "IMAP4REV2" && !_rev2)
            {
                _rev2 = true;
                enabled.Add("IMAP4rev2");
            }
            else if (capability == "UTF8=ACCEPT" && !_utf8)
            {
                _utf8 = true;
                enabled.Add("UTF8=ACCEPT");
            }
        }
        return Done(tag, "* ENABLED" + string.Concat(enabled.Select(e => " " + e)));
    }

    /// <summary>Writes what is pending in the selected mailbox that may be said now.</summary>
    private void AnnounceNow(bool allowExpunge)
    {
        if (_selected is null)
            return;
        foreach (var line in _selected.Announce(allowExpunge, _condstore, _qresync))
            Line(line);
    }

    private async Task<bool> LoginAsync(string tag, IReadOnlyList<ImapToken> args)
    {
        if (!_plaintextAllowed)
            return No(tag, "[PRIVACYREQUIRED] Plaintext authentication is not allowed without TLS.");
        if (args.Count != 2 || args[0].Text is not { } user || args[1].Text is not { } password)
            return Bad(tag, "LOGIN takes a user name and a password");
        return await CheckLoginAsync(tag, user, password, "PLAIN").ConfigureAwait(false);
    }

    /// <summary>AUTHENTICATE mechanism [initial-response] (RFC 3501 section 6.2.2, SASL-IR RFC 4959): any mechanism of <see cref="Mechanisms"/>.</summary>
    private async Task<bool> AuthenticateAsync(string tag, IReadOnlyList<ImapToken> args)
    {
        if (args.Count is < 1 or > 2 || args[0].Text is not { } name)
            return Bad(tag, "AUTHENTICATE takes a mechanism and an optional initial response");
        if (!_plaintextAllowed)
            return No(tag, "[PRIVACYREQUIRED] Authentication is not allowed without TLS.");
        if (Mechanisms.Start(name) is not { } sasl)
            return No(tag, "Unsupported authentication mechanism.");
        if (await GuardAsync(null).ConfigureAwait(false) is { } blocked)
            return No(tag, blocked);
        byte[]? initial = null;
        if (args.Count == 2 && !SaslMechanisms.TryDecode(args[1].Text ?? "", out initial))
            return Bad(tag, "Invalid base64 in SASL response");
        return await SaslStepAsync(tag, sasl, sasl.Start(initial)).ConfigureAwait(false);
    }

    /// <summary>The offered mechanisms, with the SCRAM and CRAM-MD5 keys of the directory.</summary>
    private SaslMechanisms Mechanisms => new(_access.Mechanisms, directory, _access.Hostname);


    /// <summary>The client's answer to a challenge: base64, or "*" to cancel.</summary>
    private async Task<bool> SaslResponseAsync(string tag, string response)
    {
        var sasl = _sasl!;
        _sasl = null;
        if (response == "*")
            return Bad(tag, "Authentication aborted");
        if (!SaslMechanisms.TryDecode(response, out var decoded))
            return Bad(tag, "Invalid base64 in SASL response");
        return await SaslStepAsync(tag, sasl, sasl.Next(decoded)).ConfigureAwait(false);
    }

    private async Task<bool> SaslStepAsync(string tag, ISaslServer sasl, SaslStep step)
    {
        switch (step)
        {
            case SaslStep.Challenge challenge:
                return Challenge(tag, sasl, challenge.Data);
            case SaslStep.Verify verify when verify.AuthorizationId is { } actAs && !actAs.Equals(verify.User, StringComparison.OrdinalIgnoreCase):
                return await LoginFailedAsync(tag, verify.User, "may not log in as " + actAs).ConfigureAwait(false); // no master users
            case SaslStep.Verify verify:
                return await CheckLoginAsync(tag, verify.User, verify.Password, sasl.Name).ConfigureAwait(false);
            case SaslStep.Success { Final: { } final }:
                return Challenge(tag, sasl, final); // the server's proof; the client's empty answer ends the exchange
            case SaslStep.Success success when await GuardAsync(success.User).ConfigureAwait(false) is { } blocked:
                return No(tag, blocked); // the proof was right, but the account is blocked
            case SaslStep.Success success when directory.Current.FindUser(success.User) is { Enabled: true } user:
                return LoggedIn(tag, user, sasl.Name);
            case SaslStep.Failure failure:
                return await LoginFailedAsync(tag, failure.User ?? "", failure.Reason).ConfigureAwait(false);
            default:
                return await LoginFailedAsync(tag, "", "no such user").ConfigureAwait(false);
        }
    }

    private bool Challenge(string tag, ISaslServer sasl, byte[] data)
    {
        _sasl = sasl;
        _saslTag = tag;
        _reader.ExpectLine = true;
        Line("+ " + Convert.ToBase64String(data));
        return true;
    }

    /// <summary>
    /// The brute-force guard, before a password is looked at: waits as long as the failures from this address
    /// (and for this account) say, or returns the refusal when they are blocked.
    /// </summary>
    private async Task<string?> GuardAsync(string? account)
    {
        var verdict = guard.Check(remote, account);
        if (verdict.Blocked)
        {
            ImapLog.LoginFailed(log, account ?? "", _failures, remote.ToString(), $"blocked until {verdict.BlockedUntil:u} after too many failed logins");
            return "[UNAVAILABLE] Too many failed logins; try again later.";
        }
        if (verdict.Delay > TimeSpan.Zero)
            await Task.Delay(verdict.Delay).ConfigureAwait(false);
        return null;
    }

    private async Task<bool> CheckLoginAsync(string tag, string name, string password, string method)
    {
        if (await GuardAsync(name).ConfigureAwait(false) is { } blocked)
            return No(tag, blocked);
        var user = directory.Current.FindUser(name);
        if (!PasswordHasher.VerifyUser(user, password) || user is null)
            return await LoginFailedAsync(tag, name, "password mismatch or unknown user").ConfigureAwait(false);
        directory.PasswordVerified(user, password);
        return LoggedIn(tag, user, method);
    }

    /// <summary>
    /// A failed login: logged (the reason, never a password), then a delay that grows with each failure
    /// (Dovecot's auth_failure_delay), and BYE after max-auth-failures.
    /// </summary>
    private async Task<bool> LoginFailedAsync(string tag, string name, string reason)
    {
        _failures++;
        guard.Failed(remote, name.Length > 0 ? name : null);
        ImapLog.LoginFailed(log, name, _failures, remote.ToString(), reason);
        await Task.Delay(_access.AuthFailureDelay * _failures).ConfigureAwait(false);
        if (_failures >= _access.MaxAuthFailures)
        {
            Line("* BYE Too many failed logins.");
            return false;
        }
        return No(tag, "[AUTHENTICATIONFAILED] Authentication failed.");
    }

    private bool LoggedIn(string tag, UserEntry user, string method)
    {
        guard.Succeeded(user.Address);
        _account = user.Address;
        _reader.MaxLiteral = settings.MaxLiteral;
        ImapLog.Login(log, user.Address, method, remote.ToString());
        Line($"{tag} OK [CAPABILITY {Capabilities}] Logged in");
        return true;
    }

    /// <summary>
    /// SELECT and EXAMINE: a watcher actor is registered with the mailbox entity, which answers with the
    /// listing and from then on tells it every change.
    /// </summary>
    private async Task<bool> SelectAsync(string tag, IReadOnlyList<ImapToken> args, bool readOnly)
    {
        if (_selected is not null)
            Line("* OK [CLOSED] Previous mailbox closed."); // RFC 7162 section 3.2.11
        Close();
        if (args.Count < 1)
            return Bad(tag, "SELECT takes a mailbox name");
        Resync? resync = null;
        if (args.Count > 1)
        {
            if (args.Count != 2 || args[1] is not ImapToken.List { Items: var options } || !TryParseSelectOptions(options, out resync))
                return Bad(tag, "Invalid SELECT parameters");
            if (resync is not null && !_qresync)
                return Bad(tag, "QRESYNC is not enabled");
        }
        if (FolderName(args[0]) is not { } folder)
            return Bad(tag, "Invalid mailbox name");
        var channel = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
        var watcher = system.ActorOf(ImapWatcher.Props(channel.Writer, mailboxes, new MailboxCommands.Watch(_account, folder)));
        MailboxReplies.Listing listing;
        using (var timeout = new CancellationTokenSource(AskTimeout))
        {
            try
            {
                listing = (MailboxReplies.Listing)await channel.Reader.ReadAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                system.Stop(watcher);
                throw new AskTimeoutException("no listing from the mailbox");
            }
        }
        if (listing.UidValidity == 0)
        {
            system.Stop(watcher);
            return No(tag, "[NONEXISTENT] Mailbox doesn't exist.");
        }
        _watcher = watcher;
        var selected = new SelectedMailbox(listing, readOnly);
        _selected = selected;
        _selectedName = folder;
        _ = PumpAsync(channel.Reader, selected);
        var firstUnseen = selected.Uids.FirstOrDefault(u => !selected[u].FlagList.Contains("\\Seen", StringComparer.OrdinalIgnoreCase));
        Line("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)");
        Line(readOnly ? "* OK [PERMANENTFLAGS ()] Read-only mailbox." : "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.");
        Line($"* {selected.Count} EXISTS");
        if (_rev2)
        {
            Line($"* LIST () \"/\" {Quoted(folder)}"); // RFC 9051 section 6.3.2: the name as the server has it; no RECENT, no UNSEEN
        }
        else
        {
            Line("* 0 RECENT");
            if (firstUnseen > 0)
                Line($"* OK [UNSEEN {selected.SequenceOf(firstUnseen)}] First unseen.");
        }
        Line($"* OK [UIDVALIDITY {selected.UidValidity}] UIDs valid");
        Line($"* OK [UIDNEXT {selected.UidNext}] Predicted next UID");
        Line($"* OK [HIGHESTMODSEQ {selected.HighestModSeq}] Highest");
        if (resync is { } r && r.UidValidity == selected.UidValidity)
        {
            // RFC 7162 section 3.2.5.1: what vanished since the client's modseq, then what changed.
            var vanished = Vanished(listing.Expunged, r.ModSeq, r.KnownUids, selected.UidNext);
            if (vanished.Length > 0)
                Line("* VANISHED (EARLIER) " + vanished);
            foreach (var uid in selected.Uids.Where(u => selected[u].ModSeq > r.ModSeq && (r.KnownUids is null || r.KnownUids.Contains(u, long.MaxValue))).ToArray())
                Line(selected.FlagsLine(selected[uid], condstore: true));
        }
        Line($"{tag} OK [{(readOnly ? "READ-ONLY" : "READ-WRITE")}] {(readOnly ? "Examine" : "Select")} completed.");
        return true;
    }

    /// <summary>SELECT's QRESYNC parameters (RFC 7162 section 3.2.5): UIDVALIDITY, modseq and the UIDs the client knows.</summary>
    private sealed record Resync(long UidValidity, long ModSeq, SequenceSet? KnownUids);

    /// <summary>(CONDSTORE) or (QRESYNC (uidvalidity modseq [known-uids [(seq-match)]])).</summary>
    private bool TryParseSelectOptions(IReadOnlyList<ImapToken> options, out Resync? resync)
    {
        resync = null;
        for (var i = 0; i < options.Count; i++)
        {
            var name = options[i].Text?.ToUpperInvariant();
            if (name == "CONDSTORE")
            {
                _condstore = true;
                continue;
            }
            if (name != "QRESYNC" || i + 1 >= options.Count || options[++i] is not ImapToken.List { Items: var p } || p.Count is < 2 or > 4
                || !long.TryParse(p[0].Text, NumberStyles.None, CultureInfo.InvariantCulture, out var uidValidity)
                || !long.TryParse(p[1].Text, NumberStyles.None, CultureInfo.InvariantCulture, out var modseq))
                return false;
            SequenceSet? known = null;
            if (p.Count >= 3 && p[2] is not ImapToken.List && (p[2].Text is not { } text || !SequenceSet.TryParse(text, out known)))
                return false;
            resync = new Resync(uidValidity, modseq, known);
        }
        return true;
    }

    /// <summary>The UIDs expunged after <paramref name="modseq"/> (among <paramref name="known"/>, when given), as a set; "" when none.</summary>
    private static string Vanished(IReadOnlyList<ExpungedRange>? expunged, long modseq, SequenceSet? known, long uidNext) =>
        SequenceSet.Format((expunged ?? []).Where(r => r.ModSeq > modseq)
            .SelectMany(r => LongRange(r.From, r.To))
            .Where(u => known is null || known.Contains(u, uidNext))
            .Distinct().Order());

    private static IEnumerable<long> LongRange(long from, long to)
    {
        for (var n = from; n <= to; n++)
            yield return n;
    }

    /// <summary>Moves the mailbox's changes into the view's pending list; while IDLE, announces them at once.</summary>
    private async Task PumpAsync(ChannelReader<object> changes, SelectedMailbox selected)
    {
        try
        {
            await foreach (var change in changes.ReadAllAsync().ConfigureAwait(false))
            {
                if (_selected != selected)
                    return;
                if (change is MailboxReplies.Listing listing)
                    selected.Resync(listing, MaxPending); // a new incarnation of the mailbox entity: what changed meanwhile
                else if (change is MailboxReplies.Changed changed)
                    selected.Hear(changed, MaxPending); // a deleted or renamed folder ends the session at its next command
                else
                    continue;
                if (_idleTag is null)
                    continue;
                await _gate.WaitAsync().ConfigureAwait(false);
                try
                {
                    if (_selected == selected && _idleTag is not null)
                    {
                        AnnounceNow(allowExpunge: true);
                        await FlushAsync().ConfigureAwait(false);
                    }
                }
                finally
                {
                    _gate.Release();
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // the session is gone (or its client stopped reading); its read loop ends it
            socket.Close();
        }
    }

    /// <summary>Leaves the selected mailbox: the watcher stops, and with it the entity's notifications.</summary>
    private void Close()
    {
        if (_watcher is { } watcher)
        {
            mailboxes.Tell(new MailboxCommands.Unwatch(_account), watcher);
            system.Stop(watcher);
        }
        _watcher = null;
        _selected = null;
    }

    private async Task<bool> CloseAsync(string tag, bool expunge)
    {
        if (expunge && _selected is { ReadOnly: false } selected)
        {
            var deleted = selected.Uids.Where(u => IsDeleted(selected[u])).ToArray();
            if (deleted.Length > 0)
                await mailboxes.Ask<MailboxReplies.Expunged>(new MailboxCommands.Expunge(_account, deleted, _selectedName, OnlyDeleted: true), AskTimeout).ConfigureAwait(false);
        }
        Close();
        Line($"{tag} OK Completed.");
        return true;
    }

    private static bool IsDeleted(MailMessage m) => m.FlagList.Contains("\\Deleted", StringComparer.OrdinalIgnoreCase);

    private async Task<bool> ExpungeAsync(string tag, IReadOnlyList<ImapToken> args, bool uid)
    {
        var selected = _selected!;
        if (selected.ReadOnly)
            return No(tag, "[READ-ONLY] Mailbox is read-only.");
        IEnumerable<long> candidates = selected.Uids;
        if (uid)
        {
            if (args.Count != 1 || args[0].Text is not { } text || !SequenceSet.TryParse(text, out var set))
                return Bad(tag, "UID EXPUNGE takes a UID set");
            candidates = selected.Resolve(set, byUid: true).Select(p => p.Uid);
        }
        var deleted = candidates.Where(u => IsDeleted(selected[u])).ToArray();
        if (deleted.Length > 0)
        {
            var expunged = await mailboxes.Ask<MailboxReplies.Expunged>(new MailboxCommands.Expunge(_account, deleted, _selectedName, OnlyDeleted: true), AskTimeout)
                .ConfigureAwait(false);
            foreach (var line in selected.Remove(expunged.Uids, _qresync))
                Line(line);
        }
        return Done(tag, null, allowExpunge: true);
    }

    private bool Idle(string tag)
    {
        _idleTag = tag;
        _reader.ExpectLine = true;
        AnnounceNow(allowExpunge: true);
        Line("+ idling");
        return true;
    }

    private void Line(string text)
    {
        var count = Encoding.UTF8.GetByteCount(text) + 2;
        var span = _out.GetSpan(count);
        Encoding.UTF8.GetBytes(text, span);
        span[count - 2] = (byte)'\r';
        span[count - 1] = (byte)'\n';
        _out.Advance(count);
    }

    private void Text(string text)
    {
        var span = _out.GetSpan(Encoding.UTF8.GetByteCount(text));
        _out.Advance(Encoding.UTF8.GetBytes(text, span));
    }

    private void Octets(ReadOnlySpan<byte> octets) => _out.Write(octets);

    /// <summary>
    /// Writes what is collected. A client that takes no data for <see cref="SendTimeout"/> ends the session; a
    /// buffer grown by a large FETCH is let go, so an idle session keeps only a small one.
    /// </summary>
    private async Task FlushAsync()
    {
        if (_out.WrittenCount == 0)
            return;
        _outBytes += _out.WrittenCount;
        using (var timeout = new CancellationTokenSource(SendTimeout))
            await _stream.WriteAsync(_out.WrittenMemory, timeout.Token).ConfigureAwait(false);
        if (_out.Capacity > 256 * 1024)
            _out = new ArrayBufferWriter<byte>(4096);
        else
            _out.ResetWrittenCount();
    }

    private async Task SendAsync(string line)
    {
        Line(line);
        await FlushAsync().ConfigureAwait(false);
    }

    /// <summary>A message's INTERNALDATE: its delivery time, which leads its Maildir name.</summary>
    private static DateTimeOffset InternalDate(MailMessage m) => MaildirStore.TimeOf(m.FileName);

    private byte[]? ReadMessage(MailMessage m)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            if (maildir.Locate(_account, m.FileName, m.Cur, m.FlagList, _selectedName) is not { } path)
                return null;
            try
            {
                return File.ReadAllBytes(path);
            }
            catch (FileNotFoundException)
            {
                // renamed meanwhile (flags): look again
            }
        }
        return null;
    }

    private static bool TryParseFlags(ImapToken token, out IReadOnlyList<string> flags)
    {
        var items = token is ImapToken.List list ? list.Items : [token];
        var parsed = new List<string>();
        flags = parsed;
        foreach (var item in items)
        {
            if (item is not ImapToken.Atom { Value: var flag } || flag.Length == 0)
                return false;
            if (flag.StartsWith('\\'))
            {
                var known = SystemFlags.FirstOrDefault(f => f.Equals(flag, StringComparison.OrdinalIgnoreCase));
                if (known is null)
                    return false;
                flag = known;
            }
            else if (flag.Any(c => c is '(' or ')' or '{' or ' ' or '%' or '*' or '"' or ']' or < ' ' or > '~'))
            {
                return false;
            }
            parsed.Add(flag);
        }
        return true;
    }
}
