using Akka.Actor;
using Engine.Filtering.Restrictions;
using Engine.Messages;
using Engine.Primitives;
using Engine.Protocols.Smtp;

namespace Engine.Smtp.Server;

internal sealed partial class SmtpSession
{
    private MailCommand? _mail;
    private bool _rcptRefused;
    private QueueId _queueId;
    private readonly List<EnvelopeRecipient> _recipients = [];
    /// <summary>What the restriction lists asked of this message: HOLD, DISCARD, PREPEND, REDIRECT, FILTER.</summary>
    private readonly List<TransactionEffect> _effects = [];

    /// <summary>The queue id in log lines: the transaction's once a recipient is accepted, NOQUEUE before (as Postfix, which opens the queue file then).</summary>
    private string LogId => _recipients.Count == 0 ? "NOQUEUE" : _queueId.Value;

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
        if (((_authenticated is { } sender ? _rates.Message(sender) : null) ?? Limited(_clientRates.Message)) is { } tooMuch)
        {
            RefuseMail(mail, new SmtpReply(450, "4.7.1", tooMuch));
            return;
        }
        _mail = mail;
        _rcptRefused = false;
        _queueId = QueueId.New();
        _phase = SmtpPhase.Mail;
        Ok("MAIL", new SmtpReply(250, "2.1.0", "Ok"));
    }

    private void RefuseMail(MailCommand mail, SmtpReply reply)
    {
        Count("MAIL", ok: false);
        SmtpMetrics.Reject("MAIL", reply);
        Log.Reject(_log, "NOQUEUE", "MAIL", ClientLabel, reply.ToString(), mail.From.ToString(), "", Protocol, _helo);
        Error(reply);
    }

    /// <summary>
    /// RCPT TO (RFC 5321 section 4.1.1.3): the fixed limits first, then the restriction lists
    /// (engine.smtp.restrictions: client, helo, sender and recipient, all here as with Postfix's
    /// smtpd_delay_reject), then reject_unlisted_recipient, so nothing is accepted that would bounce later.
    /// Lists that need a lookup answer later; the session waits for them with later commands stashed.
    /// </summary>
    private void Rcpt(RcptCommand rcpt)
    {
        var to = rcpt.To;
        if (to.Domain.Length == 0)
            to = new EmailAddress("postmaster", _settings.Hostname); // RFC 5321 section 4.5.1: <Postmaster>
        if (FixedRcptLimits(to) is { } refusal)
        {
            RefuseRcpt(to, refusal);
            return;
        }
        Decide(() => _restrictions.RecipientAsync(Facts(to)), outcome => Decided(rcpt, to, outcome));
    }

    private sealed record RestrictionsDecided(Outcome Outcome, Action<Outcome> Then);

    /// <summary>
    /// Runs <paramref name="then"/> with the restriction lists' outcome: at once when they answered at once (no
    /// lookup), else when the answer comes back as a message, with later commands stashed meanwhile.
    /// </summary>
    private void Decide(Func<ValueTask<Outcome>> run, Action<Outcome> then)
    {
        ValueTask<Outcome> pending;
        try
        {
            pending = run();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A check that throws at once (a table it cannot read) defers the client; the session goes on.
            pending = new ValueTask<Outcome>(Failed(e));
        }
        if (pending.IsCompletedSuccessfully)
        {
            then(pending.Result);
            return;
        }
        pending.AsTask().PipeTo(Self, success: outcome => new RestrictionsDecided(outcome, then), failure: e => new RestrictionsDecided(Failed(e), then));
        Become(AwaitingRestrictions);
    }

    /// <summary>A check that failed: 451 4.3.5 for a configuration error (as Postfix), 451 4.3.0 for anything else; logged either way.</summary>
    private Outcome Failed(Exception e)
    {
        if (e is AggregateException { InnerException: { } inner })
            e = inner;
        if (e is RestrictionConfigurationException)
        {
            Log.RestrictionMisconfigured(_log, ClientLabel, e.Message);
            return new Outcome(new SmtpReply(451, "4.3.5", "Server configuration error"), [], []);
        }
        Log.SessionError(_log, e, ClientLabel);
        return new Outcome(new SmtpReply(451, "4.3.0", "Error: temporary failure of a restriction check"), [], []);
    }

    /// <summary>While a restriction list looks something up: later commands wait, in order.</summary>
    private void AwaitingRestrictions(object message)
    {
        switch (message)
        {
            case RestrictionsDecided decided:
                Become(Ready);
                decided.Then(decided.Outcome);
                if (!_inBody && !_queueing)
                    Resume(); // else the body's or the queue's behaviour resumes the stash when it is done
                break;
            default:
                WhileWaiting(message);
                break;
        }
    }

    private void Decided(RcptCommand rcpt, EmailAddress to, Outcome outcome)
    {
        LogOutcome(outcome, "RCPT", to.ToString());
        if (outcome.Refusal is { } refusal)
        {
            RefuseRcpt(to, refusal);
            return;
        }
        _effects.AddRange(outcome.Effects.Where(e => e is not TransactionEffect.Warn));
        if (_recipients.Count == 0)
            Log.Client(_log, _queueId.Value, ClientLabel);
        _recipients.Add(new EnvelopeRecipient(to.ToString(), rcpt.Parameters.Notify, rcpt.Parameters.OrcptType, rcpt.Parameters.Orcpt));
        _phase = SmtpPhase.Rcpt;
        Ok("RCPT", new SmtpReply(250, "2.1.5", "Ok"));
    }

    /// <summary>The warnings and the effects of an outcome, in the maillog as Postfix writes them ("hold: RCPT from ...").</summary>
    private void LogOutcome(Outcome outcome, string stage, string to)
    {
        var from = _mail!.From.ToString();
        foreach (var warning in outcome.Warnings)
            Log.RejectWarning(_log, LogId, stage, ClientLabel, warning.ToString(), from, to, Protocol, _helo);
        if (outcome.Refusal is not null)
            return;
        foreach (var effect in outcome.Effects.Where(e => e is not TransactionEffect.Prepend))
            Log.Effect(_log, LogId, effect.GetType().Name.ToLowerInvariant(), stage, ClientLabel, effect.Text, from, to, Protocol, _helo);
    }

    private void RefuseRcpt(EmailAddress to, SmtpReply reply)
    {
        _rcptRefused = true;
        Count("RCPT", ok: false);
        SmtpMetrics.Reject("RCPT", reply);
        Log.Reject(_log, LogId, "RCPT", ClientLabel, reply.ToString(), _mail!.From.ToString(), to.ToString(), Protocol, _helo);
        Error(reply);
    }

    /// <summary>What the restriction lists are told of this client and transaction.</summary>
    private SmtpFacts Facts(EmailAddress? to) => new(_connection.RemoteAddress)
    {
        Lookups = _lookups,
        Instance = _queueId.Value ?? "",
        Size = _mail?.Parameters.Size ?? 0,
        Helo = _helo.Length == 0 ? null : _helo,
        Sender = _mail?.From,
        Recipient = to,
        SaslUser = _authenticated,
        PipelinedEarly = _pipelinedEarly,
        Protocol = Protocol,
    };

    /// <summary>The limits no restriction list changes: recipients per message, SMTPUTF8, the user's sending rate.</summary>
    private SmtpReply? FixedRcptLimits(EmailAddress to)
    {
        if (_recipients.Count >= _settings.RecipientLimit)
            return new SmtpReply(452, "4.5.3", "Error: too many recipients");
        if (to.IsInternational && _mail!.Parameters.SmtpUtf8 != true)
            return SmtpSyntax.Reply(SmtpSyntaxError.NeedsSmtpUtf8);
        if (((_authenticated is { } sender ? _rates.Recipient(sender) : null) ?? Limited(_clientRates.Recipient)) is { } tooMany)
            return new SmtpReply(450, "4.7.1", tooMany);
        return null;
    }

    /// <summary>Ends the transaction (RSET, EHLO, after queueing or a refused message).</summary>
    private void ResetTransaction()
    {
        AbortTransaction();
        _mail = null;
        _rcptRefused = false;
        _recipients.Clear();
        _effects.Clear();
        if (_phase != SmtpPhase.Connected)
            _phase = SmtpPhase.Greeted;
    }
}
