using Engine.Messages;
using Engine.Primitives;
using Engine.Protocols.Smtp;
using Engine.Storage.Accounts;

namespace Engine.Smtp.Server;

internal sealed partial class SmtpSession
{
    private MailCommand? _mail;
    private bool _rcptRefused;
    private QueueId _queueId;
    private readonly List<EnvelopeRecipient> _recipients = [];

    /// <summary>The queue id in log lines: the transaction's, or NOQUEUE before one exists (as Postfix).</summary>
    private string LogId => _mail is null ? "NOQUEUE" : _queueId.Value;

    /// <summary>MAIL FROM (RFC 5321 section 4.1.1.2) with SIZE, BODY, SMTPUTF8, RET and ENVID.</summary>
    private void Mail(MailCommand mail)
    {
        if ((_settings.TlsLevel == TlsSecurityLevel.Encrypt || Submission) && _tls is null)
        {
            // Postfix's smtpd_tls_security_level = encrypt (always on submission)
            RefuseMail(mail, new SmtpReply(530, "5.7.0", "Must issue a STARTTLS command first"));
            return;
        }
        if (Submission && _authenticated is null)
        {
            RefuseMail(mail, new SmtpReply(530, "5.7.0", "Authentication required"));
            return;
        }
        if (_authenticated is { } user && !mail.From.IsNull && !_directory.Current.Owns(user, mail.From))
        {
            // Postfix's reject_sender_login_mismatch: an authenticated user sends as itself or an alias of itself
            RefuseMail(mail, new SmtpReply(553, "5.7.1", $"<{mail.From}>: Sender address rejected: not owned by user {user}"));
            return;
        }
        if (mail.Parameters.Size > _settings.MessageSizeLimit)
        {
            // RFC 1870 section 6.1: a declared size over the fixed limit gets 552.
            RefuseMail(mail, new SmtpReply(552, "5.3.4", "Message size exceeds fixed limit"));
            return;
        }
        if (_draining)
        {
            Count("MAIL", ok: false);
            CloseWith(ShuttingDown);
            return;
        }
        if (_authenticated is { } sender && _rates.Message(sender) is { } tooMuch)
        {
            RefuseMail(mail, new SmtpReply(450, "4.7.1", tooMuch));
            return;
        }
        _mail = mail;
        _rcptRefused = false;
        _queueId = QueueId.New();
        _phase = SmtpPhase.Mail;
        Log.Client(_log, _queueId.Value, _client);
        Ok("MAIL", new SmtpReply(250, "2.1.0", "Ok"));
    }

    private void RefuseMail(MailCommand mail, SmtpReply reply)
    {
        Count("MAIL", ok: false);
        Log.Reject(_log, "NOQUEUE", "MAIL", _client, reply.ToString(), mail.From.ToString(), "", Protocol, _helo);
        Error(reply);
    }

    /// <summary>
    /// RCPT TO (RFC 5321 section 4.1.1.3). A virtual domain of the directory takes only its users, aliases
    /// and catch-all (550 5.1.1 otherwise, so nothing is accepted that would bounce later); a relay domain
    /// only its listed relay recipients, from any client; a domain in mydestination takes any local part;
    /// other domains only from mynetworks.
    /// </summary>
    private void Rcpt(RcptCommand rcpt)
    {
        var to = rcpt.To;
        if (to.Domain.Length == 0)
            to = new EmailAddress("postmaster", _settings.Hostname); // RFC 5321 section 4.5.1: <Postmaster>
        var reply = RcptPolicy(to);
        if (reply is not null)
        {
            _rcptRefused = true;
            Count("RCPT", ok: false);
            Log.Reject(_log, LogId, "RCPT", _client, reply.ToString(), _mail!.From.ToString(), to.ToString(), Protocol, _helo);
            Error(reply);
            return;
        }
        _recipients.Add(new EnvelopeRecipient(to.ToString(), rcpt.Parameters.Notify, rcpt.Parameters.OrcptType, rcpt.Parameters.Orcpt));
        _phase = SmtpPhase.Rcpt;
        Ok("RCPT", new SmtpReply(250, "2.1.5", "Ok"));
    }

    private SmtpReply? RcptPolicy(EmailAddress to)
    {
        if (_recipients.Count >= _settings.RecipientLimit)
            return new SmtpReply(452, "4.5.3", "Error: too many recipients");
        if (to.IsInternational && _mail!.Parameters.SmtpUtf8 != true)
            return SmtpSyntax.Reply(SmtpSyntaxError.NeedsSmtpUtf8);
        if (_authenticated is { } sender && _rates.Recipient(sender) is { } tooMany)
            return new SmtpReply(450, "4.7.1", tooMany);
        var permitted = _settings.IsMyNetwork(_connection.RemoteAddress) || _authenticated is not null; // permit_mynetworks, permit_sasl_authenticated
        if (!permitted && IsRouted(to))
            return new SmtpReply(554, "5.7.1", $"<{to}>: Relay access denied");
        var directory = _directory.Current;
        if (directory.IsRelayDomain(to.Domain))
        {
            return directory.IsRelayRecipient(to)
                ? null
                : new SmtpReply(550, "5.1.1", $"<{to}>: Recipient address rejected: User unknown in relay recipient table");
        }
        switch (directory.Resolve(to).Kind)
        {
            case RecipientKind.Accepted:
                return null;
            case RecipientKind.Unknown:
                return new SmtpReply(550, "5.1.1", $"<{to}>: Recipient address rejected: User unknown in virtual mailbox table");
            case RecipientKind.Disabled:
                return new SmtpReply(550, "5.2.1", $"<{to}>: Recipient address rejected: Mailbox disabled");
        }
        if (_settings.IsLocalDomain(to.Domain) || permitted)
            return null;
        return new SmtpReply(554, "5.7.1", $"<{to}>: Relay access denied");
    }

    /// <summary>
    /// A local part that names another host: "user%other", "other!user", or a quoted "user@other". Some mailers
    /// route these onward (Postfix's percent hack and bang paths), which made classic open relays; the engine
    /// never routes them, and refuses them as relaying from a client that may not relay, as Postfix does.
    /// </summary>
    private static bool IsRouted(EmailAddress to) => to.LocalPart.IndexOfAny(['%', '!', '@']) >= 0;

    /// <summary>Ends the transaction (RSET, EHLO, after queueing or a refused message).</summary>
    private void ResetTransaction()
    {
        AbortTransaction();
        _mail = null;
        _rcptRefused = false;
        _recipients.Clear();
        if (_phase != SmtpPhase.Connected)
            _phase = SmtpPhase.Greeted;
    }
}
