namespace Engine.Filtering.Restrictions.Helo;

/// <summary>
/// reject_invalid_helo_hostname: the HELO/EHLO name is neither a host name nor an address literal (501 5.5.2 Invalid
/// name; a bracketed name that is no address: invalid ip address, as Postfix words it).
/// </summary>
public sealed class RejectInvalidHeloHostname : IRestriction
{
    public string Name => "reject_invalid_helo_hostname";

    public ValueTask<Verdict> CheckAsync(RestrictionCall call) =>
        new(call.Facts.Helo is { } helo && !HostNames.IsValidHostOrLiteral(helo)
            ? Verdict.Reject(Replies.Rejected(501, "5.5.2", helo, "Helo command", helo.StartsWith('[') && helo.EndsWith(']') ? "invalid ip address" : "Invalid name"))
            : Verdict.Dunno);
}

/// <summary>reject_non_fqdn_helo_hostname: the HELO/EHLO name has no dot (an address literal passes) (504 5.5.2).</summary>
public sealed class RejectNonFqdnHeloHostname : IRestriction
{
    public string Name => "reject_non_fqdn_helo_hostname";

    public ValueTask<Verdict> CheckAsync(RestrictionCall call) =>
        new(call.Facts.Helo is { } helo && !HostNames.IsAddressLiteral(helo) && !HostNames.IsFullyQualified(helo)
            ? Verdict.Reject(Replies.Rejected(504, "5.5.2", helo, "Helo command", "need fully-qualified hostname"))
            : Verdict.Dunno);
}
