using System.Text;
using Akka.Actor;
using Engine.Primitives;
using Engine.Protocols.Sasl;
using Engine.Protocols.Smtp;
using Engine.Storage.Accounts;

namespace Engine.Smtp.Server;

/// <summary>
/// SMTP AUTH (RFC 4954) with the mechanisms of engine.auth.mechanisms, offered only over TLS unless
/// tls-auth-only is off (Postfix's smtpd_tls_auth_only). An authenticated client may relay (Postfix's
/// permit_sasl_authenticated). While an exchange runs the connection reads no command: each 334 challenge
/// is answered by one line. Passwords are checked off the actor's thread; a failure is answered after
/// auth-failure-delay, and counts as an error toward hard-error-limit.
/// </summary>
internal sealed partial class SmtpSession
{
    private ISaslServer? _sasl;
    private string? _authenticated;
    private string? _saslMethod;

    private sealed record PasswordChecked(string User, bool Ok, string Method);

    private sealed record AuthFailed(string Reason);

    private bool AuthOffered => _settings.Mechanisms.Count > 0 && (_tls is not null || (!_settings.TlsAuthOnly && !Submission));

    /// <summary>A submission listener (587, 465): TLS and AUTH before MAIL, the sender owned by the user.</summary>
    private bool Submission => _connection.Service.Submission;

    private void Auth(AuthCommand auth)
    {
        var refusal = !AuthOffered ? new SmtpReply(503, "5.5.1", "Error: authentication not enabled")
            : _authenticated is not null ? new SmtpReply(503, "5.5.1", "Error: already authenticated")
            : _phase is not SmtpPhase.Greeted || !_esmtp ? new SmtpReply(503, "5.5.1", _phase == SmtpPhase.Connected || !_esmtp
                ? "Error: send EHLO first" : "Error: MAIL transaction in progress")
            : null;
        var mechanisms = new SaslMechanisms(_settings.Mechanisms, _directory, _settings.Hostname);
        var sasl = refusal is null ? mechanisms.Start(auth.Mechanism) : null;
        if (refusal is null && sasl is null)
            refusal = new SmtpReply(535, "5.7.8", "Error: authentication failed: Invalid authentication mechanism");
        if (refusal is not null)
        {
            Count("AUTH", ok: false);
            Error(refusal);
            _connection.Continue(NextInput.Commands);
            return;
        }
        if (_guard.Check(_connection.RemoteAddress, null) is { Blocked: true } verdict)
        {
            Count("AUTH", ok: false);
            Log.AuthFailed(_log, ClientLabel, $"blocked until {verdict.BlockedUntil:u} after too many failed logins");
            _connection.Continue(NextInput.Commands);
            CloseWith(new SmtpReply(421, "4.7.0", $"{_settings.Hostname} Error: too many failed logins, try again later"));
            return;
        }
        byte[]? initial = null;
        if (auth.InitialResponse is { } text && !SaslMechanisms.TryDecode(text, out initial))
        {
            EndAuth(new SmtpReply(501, "5.5.2", "Error: cannot decode the initial response"));
            return;
        }
        _sasl = sasl;
        Step(sasl!.Start(initial));
    }

    private void SaslResponse(string line)
    {
        if (_sasl is null)
            return;
        if (line == "*")
        {
            EndAuth(new SmtpReply(501, "5.7.0", "Authentication aborted"));
            return;
        }
        if (!SaslMechanisms.TryDecode(line, out var response))
        {
            EndAuth(new SmtpReply(501, "5.5.2", "Error: cannot decode the response"));
            return;
        }
        Step(_sasl.Next(response));
    }


    private void Step(SaslStep step)
    {
        var sasl = _sasl!;
        switch (step)
        {
            case SaslStep.Challenge challenge:
                Send(new SmtpReply(334, null, Convert.ToBase64String(challenge.Data)));
                _connection.Continue(NextInput.SaslResponse);
                break;
            case SaslStep.Success { Final: { } final }:
                Send(new SmtpReply(334, null, Convert.ToBase64String(final))); // the server's proof; an empty line ends the exchange
                _connection.Continue(NextInput.SaslResponse);
                break;
            case SaslStep.Success success:
                Authenticated(success.User, sasl.Name);
                break;
            case SaslStep.Verify verify when verify.AuthorizationId is { } actAs && !actAs.Equals(verify.User, StringComparison.OrdinalIgnoreCase):
                Failed($"{verify.User} may not act as {actAs}");
                break;
            case SaslStep.Verify verify:
                var user = _directory.Current.FindUser(verify.User);
                var name = verify.User;
                var method = sasl.Name;
                var password = verify.Password;
                // PBKDF2 of hundreds of thousands of rounds is not done on the actor's thread.
                var directory = _directory;
                Task.Run(() =>
                {
                    var ok = PasswordHasher.VerifyUser(user, password);
                    if (ok)
                        directory.PasswordVerified(user!, password);
                    return ok;
                }).PipeTo(Self, success: ok => new PasswordChecked(user?.Address ?? name, ok, method),
                    failure: _ => new PasswordChecked(user?.Address ?? name, false, method)); // never leave the connection waiting
                break;
            case SaslStep.Failure failure:
                Failed(failure.Reason, failure.User);
                break;
        }
    }

    private void Authenticated(string user, string method)
    {
        if (_directory.Current.FindUser(user) is not { Enabled: true } entry)
        {
            Failed($"no enabled user {user}");
            return;
        }
        if (_guard.Check(_connection.RemoteAddress, entry.Address).Blocked)
        {
            Failed($"{entry.Address} is blocked after too many failed logins");
            return;
        }
        _guard.Succeeded(entry.Address);
        _authenticated = entry.Address;
        _saslMethod = method;
        Log.Authenticated(_log, ClientLabel, method, entry.Address);
        EndAuth(new SmtpReply(235, "2.7.0", "Authentication successful"), ok: true);
    }

    /// <summary>
    /// A failed exchange: counted by the brute-force guard, logged with its reason (never a password), and
    /// answered after the failure delay, or the guard's when the address has failed more.
    /// </summary>
    private void Failed(string reason, string? account = null)
    {
        _sasl = null;
        _guard.Failed(_connection.RemoteAddress, account);
        Log.AuthFailed(_log, ClientLabel, reason);
        var delay = _guard.Check(_connection.RemoteAddress, account).Delay;
        Timers.StartSingleTimer("auth-failure", new AuthFailed(reason), delay > _settings.AuthFailureDelay ? delay : _settings.AuthFailureDelay);
    }

    private void EndAuth(SmtpReply reply, bool ok = false)
    {
        _sasl = null;
        Count("AUTH", ok);
        if (ok)
            Send(reply);
        else
            Error(reply);
        _connection.Continue(NextInput.Commands);
    }

    /// <summary>The auth messages, in any behaviour between commands.</summary>
    private bool OnAuthMessage(object message)
    {
        switch (message)
        {
            case SessionInput.SaslResponse response:
                SaslResponse(response.Line);
                return true;
            case PasswordChecked { Ok: true } checkedOk:
                Authenticated(checkedOk.User, checkedOk.Method);
                return true;
            case PasswordChecked failed:
                Failed($"password mismatch or unknown user {failed.User}", failed.User);
                return true;
            case AuthFailed:
                EndAuth(new SmtpReply(535, "5.7.8", "Error: authentication failed: authentication failure"));
                return true;
            default:
                return false;
        }
    }
}
