namespace Engine.Filtering.Restrictions.Sender;

/// <summary>reject_non_fqdn_sender: MAIL FROM names no domain, or one without a dot (504 5.5.2); the null sender passes.</summary>
public sealed class RejectNonFqdnSender : IRestriction
{
    public string Name => "reject_non_fqdn_sender";

    public ValueTask<Verdict> CheckAsync(RestrictionCall call) =>
        new(call.Facts.Sender is { IsNull: false } sender && !HostNames.IsAddressLiteral(sender.Domain) && !HostNames.IsFullyQualified(sender.Domain)
            ? Verdict.Reject(Replies.Rejected(504, "5.5.2", sender.ToString(), "Sender address", "need fully-qualified address"))
            : Verdict.Dunno);
}
