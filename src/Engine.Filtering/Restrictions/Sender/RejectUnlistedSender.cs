using Engine.Storage.Accounts;

namespace Engine.Filtering.Restrictions.Sender;

/// <summary>
/// reject_unlisted_sender: MAIL FROM claims an address of a domain of the directory that the directory does
/// not know (550 5.1.0, Postfix's unverified-looking forgery of a local address).
/// </summary>
public sealed class RejectUnlistedSender : IRestriction
{
    public string Name => "reject_unlisted_sender";

    public ValueTask<Verdict> CheckAsync(RestrictionCall call)
    {
        if (call.Facts.Sender is not { IsNull: false } sender || !call.Site.Directory.Current.IsLocalDomain(sender.Domain)
            || call.Site.Directory.Current.Resolve(sender).Kind != RecipientKind.Unknown)
            return new(Verdict.Dunno);
        return new(Verdict.Reject(Replies.Rejected(550, "5.1.0", sender.ToString(), "Sender address", "User unknown in virtual mailbox table")));
    }
}
