using System.Globalization;
using System.Text;
using Engine.Protocols.Sasl;

namespace Engine.Protocols.Pop3;

/// <summary>The states of a POP3 session (RFC 1939 section 3).</summary>
public enum Pop3State { Authorization, Transaction, Update }

/// <summary>What the session must do for a command: the protocol decides, the connection does the I/O.</summary>
public abstract record Pop3Action
{
    /// <summary>Send these lines (a single "+OK"/"-ERR" line, or a multi-line response ending with ".").</summary>
    public sealed record Reply(string Text) : Pop3Action;

    /// <summary>Check the password; then call <see cref="Pop3Protocol.LoggedIn"/> or <see cref="Pop3Protocol.LoginFailed"/>.</summary>
    public sealed record Authenticate(string User, string Password, string Method = "PLAIN") : Pop3Action;

    /// <summary>"+OK" and the message, dot-stuffed, whole or (TOP) its header and the first lines of its body.</summary>
    public sealed record SendMessage(Pop3Message Message, int? TopLines) : Pop3Action;

    /// <summary>QUIT in the TRANSACTION state: remove these messages, then answer and close (the UPDATE state).</summary>
    public sealed record Update(IReadOnlyList<long> DeletedUids) : Pop3Action;

    /// <summary>Answer and close.</summary>
    public sealed record Close(string Text) : Pop3Action;

    /// <summary>"+ " and read the client's SASL response (AUTH without an initial response).</summary>
    public sealed record Continue(string Challenge) : Pop3Action;

    /// <summary>A SASL mechanism proved the user knows the password (SCRAM): open the maildrop.</summary>
    public sealed record Authenticated(string User, string Method) : Pop3Action;

    /// <summary>A SASL exchange failed (the reason is for the log): count it, wait, answer -ERR [AUTH].</summary>
    public sealed record AuthFailed(string User, string Reason) : Pop3Action;

    /// <summary>Send the text, then the TLS handshake (RFC 2595 STLS); what the client sent after STLS is dropped.</summary>
    public sealed record StartTls(string Text) : Pop3Action;
}

/// <summary>
/// A POP3 server session without I/O (RFC 1939, RFC 2449 CAPA and RESP-CODES, RFC 5034 AUTH PLAIN, RFC 2595
/// STLS): it takes parsed commands and says what to answer or do. Plaintext USER/PASS and AUTH PLAIN are
/// offered only over TLS (<see cref="TlsStarted"/>) or where <c>allowPlaintext</c> says so (loopback);
/// STLS where <c>tlsAvailable</c>, until TLS is on.
/// </summary>
public sealed class Pop3Protocol(bool allowPlaintext, string greetingHost, bool tlsAvailable = false, SaslMechanisms? mechanisms = null)
{
    private readonly SaslMechanisms _mechanisms = mechanisms ?? new SaslMechanisms(["PLAIN"], NoSaslKeys.Instance, greetingHost);
    private bool _tls;
    private ISaslServer? _sasl;

    private string? _user;
    private bool _awaitingSasl;
    private Pop3Maildrop? _maildrop;

    public Pop3State State { get; private set; } = Pop3State.Authorization;

    /// <summary>Who is logged in (after <see cref="LoggedIn"/>).</summary>
    public string? User { get; private set; }

    public Pop3Maildrop Maildrop => _maildrop ?? throw new InvalidOperationException("not in the TRANSACTION state");

    /// <summary>True while the next line is a SASL response, not a command.</summary>
    public bool AwaitingSaslResponse => _awaitingSasl;

    public string Greeting => $"+OK {greetingHost} POP3 server ready";

    public string Capabilities
    {
        get
        {
            var lines = new List<string> { "+OK Capability list follows", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING" };
            if (tlsAvailable && !_tls && State == Pop3State.Authorization)
                lines.Add("STLS");
            if (allowPlaintext)
                lines.AddRange(["USER", "SASL " + string.Join(' ', _mechanisms.Names)]);
            lines.Add("IMPLEMENTATION Engine");
            lines.Add(".");
            return string.Join("\r\n", lines);
        }
    }

    public Pop3Action Handle(Pop3Command command)
    {
        if (command.Verb == Pop3Verb.Capa)
            return new Pop3Action.Reply(Capabilities);
        return State switch
        {
            Pop3State.Authorization => Authorization(command),
            Pop3State.Transaction => Transaction(command),
            _ => new Pop3Action.Reply("-ERR session is ending"),
        };
    }

    /// <summary>The TLS handshake is done (STLS or port 995): passwords may be sent now, a USER given before is forgotten.</summary>
    public void TlsStarted()
    {
        _tls = true;
        allowPlaintext = true;
        _user = null;
    }

    /// <summary>A line that is not a command: a syntax error in any state.</summary>
    public static Pop3Action.Reply Invalid(string error) => new($"-ERR {error}");

    private Pop3Action Authorization(Pop3Command command)
    {
        switch (command.Verb)
        {
            case Pop3Verb.User:
                if (!allowPlaintext)
                    return new Pop3Action.Reply("-ERR [AUTH] Plaintext authentication disallowed on non-secure connections");
                if (command.Arg(0) is not { } user || command.Args.Count != 1)
                    return new Pop3Action.Reply("-ERR USER needs a name");
                _user = user;
                return new Pop3Action.Reply("+OK");
            case Pop3Verb.Pass:
                if (_user is null)
                    return new Pop3Action.Reply("-ERR USER first");
                if (command.Arg(0) is not { } password)
                    return new Pop3Action.Reply("-ERR PASS needs a password");
                var name = _user;
                _user = null;
                return new Pop3Action.Authenticate(name, password);
            case Pop3Verb.Auth:
                if (command.Args.Count == 0)
                    return new Pop3Action.Reply(allowPlaintext ? string.Join("\r\n", ["+OK", .. _mechanisms.Names, "."]) : "+OK\r\n.");
                if (!allowPlaintext || _mechanisms.Start(command.Args[0]) is not { } sasl)
                    return new Pop3Action.Reply("-ERR [AUTH] Unsupported authentication mechanism");
                byte[]? initial = null;
                if (command.Args.Count > 1 && !SaslMechanisms.TryDecode(command.Args[1], out initial))
                    return new Pop3Action.Reply("-ERR [AUTH] Invalid base64 data");
                _sasl = sasl;
                return Step(sasl.Start(initial));
            case Pop3Verb.Quit:
                State = Pop3State.Update;
                return new Pop3Action.Close($"+OK {greetingHost} POP3 server signing off");
            case Pop3Verb.Stls:
                return _tls ? new Pop3Action.Reply("-ERR Command not permitted when TLS active")
                    : !tlsAvailable ? new Pop3Action.Reply("-ERR STLS is not available")
                    : command.Args.Count > 0 ? new Pop3Action.Reply("-ERR STLS takes no arguments")
                    : new Pop3Action.StartTls("+OK Begin TLS negotiation now.");
            default:
                return new Pop3Action.Reply("-ERR Unknown command in AUTHORIZATION state");
        }
    }

    /// <summary>The client's answer to a "+ " challenge: base64, or "*" to cancel (RFC 5034 section 4).</summary>
    public Pop3Action SaslResponse(string line)
    {
        _awaitingSasl = false;
        if (line == "*")
        {
            _sasl = null;
            return new Pop3Action.Reply("-ERR AUTH cancelled");
        }
        if (!SaslMechanisms.TryDecode(line, out var response))
        {
            _sasl = null;
            return new Pop3Action.Reply("-ERR [AUTH] Invalid base64 data");
        }
        return Step(_sasl!.Next(response));
    }


    private Pop3Action Step(SaslStep step)
    {
        var method = _sasl!.Name;
        switch (step)
        {
            case SaslStep.Challenge challenge:
                _awaitingSasl = true;
                return new Pop3Action.Continue(Convert.ToBase64String(challenge.Data));
            case SaslStep.Success { Final: { } final }:
                _awaitingSasl = true; // the server's proof; the client's empty answer ends the exchange
                return new Pop3Action.Continue(Convert.ToBase64String(final));
        }
        _sasl = null;
        return step switch
        {
            SaslStep.Verify { AuthorizationId: { } actAs } verify when !actAs.Equals(verify.User, StringComparison.OrdinalIgnoreCase) =>
                new Pop3Action.AuthFailed(verify.User, $"may not act as {actAs}"),
            SaslStep.Verify verify => new Pop3Action.Authenticate(verify.User, verify.Password, method),
            SaslStep.Success success => new Pop3Action.Authenticated(success.User, method),
            SaslStep.Failure failure => new Pop3Action.AuthFailed(failure.User ?? "", failure.Reason),
            _ => new Pop3Action.AuthFailed("", "unexpected SASL step"),
        };
    }

    public Pop3Action.Reply LoggedIn(string user, Pop3Maildrop maildrop)
    {
        User = user;
        _maildrop = maildrop;
        State = Pop3State.Transaction;
        return new Pop3Action.Reply("+OK Logged in.");
    }

    public static Pop3Action.Reply LoginFailed => new("-ERR [AUTH] Authentication failed.");

    public static Pop3Action.Reply InUse => new("-ERR [IN-USE] Mailbox is locked by another POP3 session.");

    public static Pop3Action.Reply TemporaryFailure => new("-ERR [SYS/TEMP] Temporary failure, try again later.");

    private Pop3Action Transaction(Pop3Command command)
    {
        var drop = Maildrop;
        switch (command.Verb)
        {
            case Pop3Verb.Stat:
                return new Pop3Action.Reply(FormattableString.Invariant($"+OK {drop.Live.Count()} {drop.Live.Sum(m => m.Size)}"));
            case Pop3Verb.List:
            case Pop3Verb.Uidl:
                string Line(Pop3Message m) => FormattableString.Invariant($"{m.Number} {(command.Verb == Pop3Verb.List ? m.Size.ToString(CultureInfo.InvariantCulture) : m.UniqueId)}");
                if (command.Args.Count > 0)
                    return drop.Find(command.Arg(0)) is { } one ? new Pop3Action.Reply("+OK " + Line(one)) : NoSuchMessage;
                return new Pop3Action.Reply(string.Join("\r\n", [
                    FormattableString.Invariant($"+OK {drop.Live.Count()} messages"), .. drop.Live.Select(Line), "."]));
            case Pop3Verb.Retr:
                return drop.Find(command.Arg(0)) is { } retr ? new Pop3Action.SendMessage(retr, null) : NoSuchMessage;
            case Pop3Verb.Top:
                if (drop.Find(command.Arg(0)) is not { } top)
                    return NoSuchMessage;
                return int.TryParse(command.Arg(1), NumberStyles.None, CultureInfo.InvariantCulture, out var lines) && command.Args.Count == 2
                    ? new Pop3Action.SendMessage(top, lines)
                    : new Pop3Action.Reply("-ERR TOP needs a message number and a line count");
            case Pop3Verb.Dele:
                if (drop.Find(command.Arg(0)) is not { } dele)
                    return NoSuchMessage;
                drop.Delete(dele);
                return new Pop3Action.Reply("+OK Marked to be deleted.");
            case Pop3Verb.Rset:
                drop.Reset();
                return new Pop3Action.Reply("+OK");
            case Pop3Verb.Noop:
                return new Pop3Action.Reply("+OK");
            case Pop3Verb.Quit:
                State = Pop3State.Update;
                return new Pop3Action.Update(drop.DeletedUids.ToArray());
            default:
                return new Pop3Action.Reply("-ERR Unknown command in TRANSACTION state");
        }
    }

    private static Pop3Action.Reply NoSuchMessage => new("-ERR There's no message with that number.");
}
