namespace Engine.Filtering.Restrictions.Recipient;

/// <summary>reject_non_fqdn_recipient: RCPT TO names a domain without a dot (504 5.5.2).</summary>
public sealed class RejectNonFqdnRecipient : IRestriction
{
    public string Name => "reject_non_fqdn_recipient";

    public ValueTask<Verdict> CheckAsync(RestrictionCall call) =>
        new(call.Facts.Recipient is { } to && !HostNames.IsAddressLiteral(to.Domain) && !HostNames.IsFullyQualified(to.Domain)
            ? Verdict.Reject(Replies.Rejected(504, "5.5.2", to.ToString(), "Recipient address", "need fully-qualified address"))
            : Verdict.Dunno);
}
