using Engine.Primitives;

namespace Engine.Protocols.Smtp;

/// <summary>Where a session stands in the command sequence of RFC 5321 section 4.1.4.</summary>
public enum SmtpPhase
{
    /// <summary>Connected, no EHLO or HELO yet.</summary>
    Connected,
    /// <summary>Greeted, no transaction.</summary>
    Greeted,
    /// <summary>MAIL accepted, no recipient accepted yet.</summary>
    Mail,
    /// <summary>At least one recipient accepted.</summary>
    Rcpt,
    /// <summary>Between BDAT chunks of one message (RFC 3030).</summary>
    Bdat,
}

/// <summary>
/// Which command may come in which phase. "The MAIL command ... may be issued only when no mail
/// transaction is in progress" and "the RCPT command ... may be given only after MAIL" (RFC 5321 sections
/// 4.1.1.2 and 4.1.1.3); "if there was no MAIL, or no RCPT, command, or all such commands were rejected,
/// the server MAY return a 'command out of sequence' (503) or 'no valid recipients' (554) reply" to DATA
/// (section 3.3). During a BDAT sequence only BDAT, RSET, NOOP and QUIT make sense (RFC 3030 section 2).
/// </summary>
public static class SmtpStateTable
{
    /// <summary>The 503 (or 554) reply when <paramref name="command"/> is out of order, else null.</summary>
    /// <param name="rcptRefused">Whether a RCPT of this transaction was refused: DATA then gets 554
    /// "no valid recipients" rather than 503 "need RCPT command", as Postfix answers.</param>
    /// <param name="heloRequired">Whether MAIL needs an EHLO or HELO first (Postfix's smtpd_helo_required).</param>
    public static SmtpReply? Check(SmtpPhase phase, SmtpCommand command, bool rcptRefused = false, bool heloRequired = true)
    {
        if (phase == SmtpPhase.Bdat && command is not (BdatCommand or RsetCommand or NoopCommand or QuitCommand))
            return OutOfSequence($"{command.Verb} during BDAT transfer");
        return command switch
        {
            MailCommand when phase == SmtpPhase.Connected && heloRequired => OutOfSequence("send HELO/EHLO first"),
            MailCommand when phase is SmtpPhase.Mail or SmtpPhase.Rcpt => OutOfSequence("nested MAIL command"),
            RcptCommand when phase is SmtpPhase.Connected or SmtpPhase.Greeted => OutOfSequence("need MAIL command"),
            DataCommand or BdatCommand when phase is SmtpPhase.Connected or SmtpPhase.Greeted =>
                OutOfSequence("need MAIL command"),
            DataCommand or BdatCommand when phase == SmtpPhase.Mail =>
                rcptRefused ? new SmtpReply(554, "5.5.1", "Error: no valid recipients") : OutOfSequence("need RCPT command"),
            _ => null,
        };
    }

    private static SmtpReply OutOfSequence(string text) => new(503, "5.5.1", $"Error: {text}");
}
