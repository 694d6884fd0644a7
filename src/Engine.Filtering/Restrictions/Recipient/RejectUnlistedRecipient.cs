using Engine.Storage.Accounts;

namespace Engine.Filtering.Restrictions.Recipient;

/// <summary>
/// reject_unlisted_recipient: a recipient of a virtual domain the directory does not know (550 5.1.1 User
/// unknown in virtual mailbox table), a disabled one (550 5.2.1), one of a relay domain not among its
/// relay recipients (550 5.1.1 ... relay recipient table), or one of a mydestination domain that the directory does
/// not hold, whose local part is not among engine.smtp.local-recipients (550 5.1.1 ... local recipient table: there
/// are no system accounts), so nothing is accepted that would bounce later.
/// Also applied after every list when engine.smtp.reject-unlisted-recipient is on (Postfix's
/// smtpd_reject_unlisted_recipient).
/// </summary>
public sealed class RejectUnlistedRecipient : IRestriction
{
    public string Name => "reject_unlisted_recipient";

    public ValueTask<Verdict> CheckAsync(RestrictionCall call)
    {
        if (call.Facts.Recipient is not { } to)
            return new(Verdict.Dunno);
        var directory = call.Site.Directory.Current;
        if (directory.IsRelayDomain(to.Domain))
        {
            return new(directory.IsRelayRecipient(to) ? Verdict.Dunno
                : Verdict.Reject(Replies.Rejected(550, "5.1.1", to.ToString(), "Recipient address", "User unknown in relay recipient table")));
        }
        var kind = directory.Resolve(to).Kind;
        if (kind == RecipientKind.NotLocal && call.Site.LocalRecipients is { } known && call.Site.IsMyDestination(to.Domain)
            && directory.BaseLocalPart(to.LocalPart) is var local && !known.Contains(local)
            && !local.Equals("postmaster", StringComparison.OrdinalIgnoreCase)) // RFC 5321 section 4.5.1, whatever the list says
            return new(Verdict.Reject(Replies.Rejected(550, "5.1.1", to.ToString(), "Recipient address", "User unknown in local recipient table")));
        return new(kind switch
        {
            RecipientKind.Unknown => Verdict.Reject(Replies.Rejected(550, "5.1.1", to.ToString(), "Recipient address", "User unknown in virtual mailbox table")),
            RecipientKind.Disabled => Verdict.Reject(Replies.Rejected(550, "5.2.1", to.ToString(), "Recipient address", "Mailbox disabled")),
            _ => Verdict.Dunno,
        });
    }
}
