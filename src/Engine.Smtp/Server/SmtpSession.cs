using System.Text;
using Akka.Actor;
using Engine.Filtering.Dns;
using Engine.Filtering.Restrictions;
using Engine.Network;
using Engine.Primitives;
using Engine.Protocols.Smtp;
using Engine.Storage.Accounts;
using Engine.Storage.Blobs;
using Microsoft.Extensions.Logging;

namespace Engine.Smtp.Server;

/// <summary>Orders from the listener to every session.</summary>
internal static class SessionControl
{
    /// <summary>The node is stopping: finish the current transaction, then say 421 and close.</summary>
    public sealed record Drain
    {
        public static readonly Drain Instance = new();
    }

    /// <summary>The grace time is over: say 421 and close now.</summary>
    public sealed record Abort
    {
        public static readonly Abort Instance = new();
    }
}

/// <summary>
/// One SMTP session (Postfix's smtpd for one client): it takes the commands its connection parsed, decides
/// each against the state table and the acceptance policy, and answers. It never blocks: the body is
/// streamed by the connection, and the queue's "written" comes back as a message. The verbs live in the
/// partial files SmtpSession.Mail.cs (MAIL, RCPT) and SmtpSession.Data.cs (DATA, BDAT, queueing).
/// </summary>
internal sealed partial class SmtpSession : UntypedActor, IWithStash, IWithTimers
{
    private readonly SmtpConnection _connection;
    private readonly SmtpSettings _settings;
    private readonly IActorRef _queue;
    private readonly IBlobStore _blobs;
    private readonly IRecipientDirectory _directory;
    private readonly LoginGuard _guard;
    private readonly SendRates _rates;
    private readonly Restrictions _restrictions;
    private readonly ClientRates _clientRates;
    private readonly ILogger _log;
    /// <summary>
    /// The client's verified name, "unknown" until it is known (looked up only when a restriction needs it). Read from the
    /// lookup itself, so a restriction that waited for the name and the log line of its verdict see the same name.
    /// </summary>
    private string ClientName => _lookups is not null && _restrictions.LooksUpClientName ? _lookups.NameSoFar : "unknown";

    /// <summary>"name[address]" in log lines.</summary>
    private string ClientLabel => $"{ClientName}[{_connection.RemoteAddress}]";
    /// <summary>The client sent a command before the reply it had to wait for (reject_unauth_pipelining).</summary>
    private bool _pipelinedEarly;
    /// <summary>The DNS questions about the client, started at connect; null when no restriction asks any.</summary>
    private ClientLookups? _lookups;
    private readonly List<(string Verb, int Ok, int Total)> _counts = [];

    private SmtpPhase _phase = SmtpPhase.Connected;
    private string _helo = "";
    private bool _esmtp;
    private int _errors;
    private int _junk;
    private bool _inBody;
    private bool _draining;
    private bool _closed;
    private string _lastVerb = "CONNECT";
    /// <summary>The session's TLS once STARTTLS is done ("TLSv1.3 with cipher ..."), for the log and the Received: header.</summary>
    private string? _tls;

    public SmtpSession(SmtpConnection connection, SmtpSettings settings, IActorRef queue, IBlobStore blobs, IRecipientDirectory directory,
        LoginGuard guard, SendRates rates, ClientRates clientRates, Restrictions restrictions, ILogger log)
    {
        _clientRates = clientRates;
        _restrictions = restrictions;
        _guard = guard;
        _rates = rates;
        _directory = directory;
        _connection = connection;
        _settings = settings;
        _queue = queue;
        _blobs = blobs;
        _log = log;
    }

    public IStash Stash { get; set; } = null!;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>
    /// Props made by a plain delegate: one session per connection, so no expression trees are compiled
    /// (Props.Create(() =&gt; ...) compiles its arguments each time, which costs more than the session).
    /// </summary>
    public static Props Props(SmtpConnection connection, SmtpSettings settings, IActorRef queue, IBlobStore blobs,
        IRecipientDirectory directory, LoginGuard guard, SendRates rates, ClientRates clientRates, Restrictions restrictions, ILogger log) =>
        Akka.Actor.Props.CreateBy(new Producer(() => new SmtpSession(connection, settings, queue, blobs, directory, guard, rates, clientRates, restrictions, log)));

    private sealed class Producer(Func<SmtpSession> create) : IIndirectActorProducer
    {
        public Type ActorType => typeof(SmtpSession);

        public ActorBase Produce() => create();

        public void Release(ActorBase actor)
        {
        }
    }

    /// <summary>The "with" of the Received: header (RFC 3848, RFC 6531 section 3.7.3): ESMTPS over TLS, ESMTPSA authenticated.</summary>
    private string Protocol => (!_esmtp ? "SMTP" : _mail?.Parameters.SmtpUtf8 == true ? "UTF8SMTP" : "ESMTP") + (_tls is null ? "" : "S")
        + (_authenticated is null ? "" : "A");

    protected override void PreStart()
    {
        Log.Connect(_log, ClientLabel);
        if (Limited(_clientRates.Connection) is { } tooMany)
        {
            // Postfix's smtpd_client_connection_rate_limit: the greeting is the refusal.
            SmtpMetrics.Connection(Submission ? "submission" : "mx", accepted: false);
            Log.ConnectionRefused(_log, ClientLabel, $"421 4.7.0 {_settings.Hostname} {tooMany}");
            CloseWith(new SmtpReply(421, "4.7.0", $"{_settings.Hostname} {tooMany}"));
            return;
        }
        SmtpMetrics.Connection(Submission ? "submission" : "mx", accepted: true);
        _lookups = _restrictions.Connect(_connection.RemoteAddress);
        if (_lookups is not null && _restrictions.LooksUpClientName)
            _ = _lookups.NameAsync(); // started now, answered by the time a restriction asks
        Send(new SmtpReply(220, null, $"{_settings.Hostname} {_settings.Banner}"));
    }

    protected override void PostStop()
    {
        StopQueueTimers();
        // While the connection writes a body, the body is the connection's to throw away.
        if (!_inBody)
            AbortTransaction();
        _connection.SessionStopped();
        Log.Disconnect(_log, ClientLabel, FormatCounts());
    }

    protected override void OnReceive(object message) => Ready(message);

    /// <summary>Between commands: the normal behaviour.</summary>
    private void Ready(object message)
    {
        switch (message)
        {
            case SessionInput.Command { Value: var command } when _closed:
                // Pipelined behind a 421: nothing more is done, and no body is taken.
                if (command is DataCommand or BdatCommand)
                    _connection.Proceed(null);
                if (command is StartTlsCommand or AuthCommand)
                    _connection.Continue(NextInput.Commands);
                break;
            case SessionInput.Refused when _closed:
                break;
            case SessionInput.Command { Value: var command, Followed: var followed }:
                // RFC 2920 section 3.1: EHLO, HELO, DATA, VRFY, NOOP and QUIT end a group, and without EHLO there
                // is no pipelining at all; a client that sends on regardless talks without listening.
                _pipelinedEarly |= followed && (!_esmtp || command is EhloCommand or HeloCommand or DataCommand or VrfyCommand or NoopCommand or QuitCommand);
                _lastVerb = command.Verb;
                Handle(command);
                CloseIfDrainingAndIdle();
                break;
            case SessionInput.Refused when _sasl is not null:
                _sasl = null; // a response line over 12,288 octets (RFC 4954 section 4)
                Count("AUTH", ok: false);
                Error(new SmtpReply(500, "5.5.6", "Authentication Exchange line is too long"));
                break;
            case SessionInput.Refused refused:
                Count(refused.Error == SmtpSyntaxError.UnknownCommand ? "UNKNOWN" : _lastVerb, ok: false);
                Error(SmtpSyntax.Reply(refused.Error, refused.Detail));
                break;
            case SessionControl.Drain:
                _draining = true;
                CloseIfDrainingAndIdle();
                break;
            default:
                Common(message);
                break;
        }
    }

    /// <summary>A client rate's refusal for this client, or null; clients in mynetworks have no rate (smtpd_client_event_limit_exceptions).</summary>
    private string? Limited(Func<string, string?> take) =>
        !_clientRates.Any || _settings.IsMyNetwork(_connection.RemoteAddress) ? null : take(_connection.RemoteAddress.ToString());

    /// <summary>Messages every behaviour handles the same way.</summary>
    private void Common(object message)
    {
        if (OnAuthMessage(message))
            return;
        switch (message)
        {
            case SessionInput.Closed closed:
                if (!_closed)
                    Log.SessionEnded(_log, closed.Error is null ? "lost connection" : $"lost connection ({closed.Error.Message})", _lastVerb, ClientLabel);
                Context.Stop(Self);
                break;
            case SessionInput.TlsStarted started:
                // RFC 3207 section 4.2: the client knows nothing from before the handshake, and must say EHLO again.
                _tls = started.Description;
                _authenticated = null;
                ResetTransaction();
                _helo = "";
                _esmtp = false;
                _phase = SmtpPhase.Connected;
                Log.Tls(_log, ClientLabel, started.Description);
                break;
            case SessionInput.TimedOut:
                Log.SessionEnded(_log, "timeout", _lastVerb, ClientLabel);
                CloseWith(new SmtpReply(421, "4.4.2", $"{_settings.Hostname} Error: timeout exceeded"));
                Context.Stop(Self);
                break;
            case SessionControl.Drain:
                _draining = true;
                break;
            case SessionControl.Abort:
                CloseWith(ShuttingDown);
                Context.Stop(Self);
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    /// <summary>On shutdown a session closes as soon as it has no transaction.</summary>
    private void CloseIfDrainingAndIdle()
    {
        if (_draining && _phase is SmtpPhase.Connected or SmtpPhase.Greeted && !_inBody)
            CloseWith(ShuttingDown);
    }

    private SmtpReply ShuttingDown => new(421, "4.3.2", $"{_settings.Hostname} Service shutting down, closing transmission channel");

    private void Handle(SmtpCommand command)
    {
        var outOfOrder = SmtpStateTable.Check(_phase, command, _rcptRefused, _settings.HeloRequired);
        if (outOfOrder is not null)
        {
            Count(command.Verb, ok: false);
            if (command is DataCommand or BdatCommand)
                RefuseBody(command, outOfOrder);
            else
                Error(outOfOrder);
            if (command is StartTlsCommand or AuthCommand)
                _connection.Continue(NextInput.Commands);
            return;
        }
        switch (command)
        {
            case EhloCommand ehlo:
                Hello(ehlo.Domain, esmtp: true);
                break;
            case HeloCommand helo:
                Hello(helo.Domain, esmtp: false);
                break;
            case MailCommand mail:
                Mail(mail);
                break;
            case RcptCommand rcpt:
                Rcpt(rcpt);
                break;
            case DataCommand:
                Data();
                break;
            case BdatCommand when _settings.IsDiscarded("CHUNKING"):
                Count("BDAT", ok: false);
                RefuseBody(command, SmtpSyntax.Reply(SmtpSyntaxError.UnknownCommand));
                break;
            case BdatCommand bdat:
                Bdat(bdat);
                break;
            case RsetCommand:
                ResetTransaction();
                Junk("RSET", new SmtpReply(250, "2.0.0", "Ok"));
                break;
            case NoopCommand:
                Junk("NOOP", new SmtpReply(250, "2.0.0", "Ok"));
                break;
            case HelpCommand:
                Junk("HELP", new SmtpReply(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY; see RFC 5321"));
                break;
            case VrfyCommand:
                Junk("VRFY", _settings.VrfyReply);
                break;
            case StartTlsCommand:
                StartTls();
                break;
            case AuthCommand auth:
                Auth(auth);
                break;
            case QuitCommand:
                Count("QUIT", ok: true);
                CloseWith(new SmtpReply(221, "2.0.0", "Bye"));
                break;
        }
    }

    /// <summary>EHLO and HELO (RFC 5321 section 4.1.1.1); either one ends any transaction.</summary>
    private void Hello(string domain, bool esmtp)
    {
        ResetTransaction();
        _helo = domain;
        _esmtp = esmtp;
        _phase = SmtpPhase.Greeted;
        Count(esmtp ? "EHLO" : "HELO", ok: true);
        if (!esmtp)
        {
            Send(new SmtpReply(250, null, _settings.Hostname));
            return;
        }
        // RFC 2034 section 3: no enhanced status codes in the EHLO reply.
        string[] keywords = ["PIPELINING", $"SIZE {_settings.MessageSizeLimit}", "ENHANCEDSTATUSCODES", "8BITMIME", "SMTPUTF8", "CHUNKING", "DSN", "HELP",
            .. (_settings.TlsLevel != TlsSecurityLevel.None || Submission) && _tls is null ? ["STARTTLS"] : Array.Empty<string>(),
            .. AuthOffered ? ["AUTH " + string.Join(' ', _settings.Mechanisms)] : Array.Empty<string>()];
        Send(new SmtpReply(250, null, [_settings.Hostname, .. keywords.Where(k => !_settings.IsDiscarded(k.Split(' ')[0]))]));
    }

    /// <summary>
    /// STARTTLS (RFC 3207), answered as Postfix answers: 220 and the handshake, or 502 when TLS is off, 554 when it
    /// is on already, 503 inside a transaction. The connection waits for this decision before it reads on.
    /// </summary>
    private void StartTls()
    {
        var refusal = _settings.TlsLevel == TlsSecurityLevel.None && !Submission ? SmtpSyntax.Reply(SmtpSyntaxError.UnknownCommand)
            : _tls is not null ? new SmtpReply(554, "5.5.1", "Error: TLS already active")
            : _phase is not (SmtpPhase.Connected or SmtpPhase.Greeted) ? new SmtpReply(503, "5.5.1", "Error: MAIL transaction in progress")
            : null;
        Count("STARTTLS", ok: refusal is null);
        if (refusal is not null)
        {
            Error(refusal);
            _connection.Continue(NextInput.Commands);
            return;
        }
        Send(new SmtpReply(220, "2.0.0", "Ready to start TLS"));
        _connection.Continue(NextInput.StartTls);
    }

    private void Ok(string verb, SmtpReply reply)
    {
        Count(verb, ok: true);
        Send(reply);
    }

    /// <summary>
    /// NOOP, RSET, HELP and VRFY move no mail. Past junk-command-limit of them each one counts as an error,
    /// so a client cannot hold a connection by sending them for ever (Postfix's smtpd_junk_command_limit).
    /// </summary>
    private void Junk(string verb, SmtpReply reply)
    {
        Count(verb, reply.IsPositive);
        if (++_junk > _settings.JunkCommandLimit)
            Error(reply);
        else
            Send(reply);
    }

    private void Send(SmtpReply reply) => _connection.Send(reply);

    /// <summary>Sends a 4xx or 5xx reply and counts it; too many and the session ends (Postfix's smtpd_hard_error_limit).</summary>
    private void Error(SmtpReply reply)
    {
        Send(reply);
        if (++_errors < _settings.HardErrorLimit)
            return;
        Log.SessionEnded(_log, "too many errors", _lastVerb, ClientLabel);
        CloseWith(new SmtpReply(421, "4.7.0", $"{_settings.Hostname} Error: too many errors"));
    }

    private void CloseWith(SmtpReply reply)
    {
        if (_closed)
            return;
        Send(reply);
        _closed = true;
        _connection.Close();
    }

    /// <summary>Counts a command for the disconnect line: "ehlo=1 mail=1 rcpt=0/1 data=1 quit=1 commands=4/5".</summary>
    private void Count(string verb, bool ok)
    {
        SmtpMetrics.Command(verb, ok);
        var i = _counts.FindIndex(c => c.Verb == verb);
        if (i < 0)
            _counts.Add((verb, ok ? 1 : 0, 1));
        else
            _counts[i] = (verb, _counts[i].Ok + (ok ? 1 : 0), _counts[i].Total + 1);
    }

    private string FormatCounts()
    {
        var sb = new StringBuilder();
        int ok = 0, total = 0;
        foreach (var (verb, o, t) in _counts)
        {
            sb.Append(verb.ToLowerInvariant()).Append('=').Append(o);
            if (o != t)
                sb.Append('/').Append(t);
            sb.Append(' ');
            ok += o;
            total += t;
        }
        sb.Append("commands=").Append(ok);
        if (ok != total)
            sb.Append('/').Append(total);
        return sb.ToString();
    }
}
