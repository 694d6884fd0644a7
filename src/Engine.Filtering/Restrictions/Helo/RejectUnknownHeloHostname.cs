using Engine.Filtering.Dns;

namespace Engine.Filtering.Restrictions.Helo;

/// <summary>
/// reject_unknown_helo_hostname: the HELO/EHLO name has no address and no MX (450 4.7.1 Host not found); address
/// literals pass. When DNS does not answer, the 450 comes only if nothing later rejects (defer_if_permit, as Postfix).
/// </summary>
public sealed class RejectUnknownHeloHostname : IRestriction
{
    public string Name => "reject_unknown_helo_hostname";

    public async ValueTask<Verdict> CheckAsync(RestrictionCall call)
    {
        if (call.Facts.Helo is not { } helo || HostNames.IsAddressLiteral(helo))
            return Verdict.Dunno;
        var dns = call.Site.Resolver;
        var addresses = (await dns.AddressesAsync(helo, call.Cancel).ConfigureAwait(false)).Status;
        var mx = addresses == DnsStatus.Found ? addresses : (await dns.MxAsync(helo, call.Cancel).ConfigureAwait(false)).Status;
        if (mx == DnsStatus.Found)
            return Verdict.Dunno;
        var reply = Replies.Rejected(450, "4.7.1", helo, "Helo command", "Host not found");
        if (addresses == DnsStatus.NotFound && mx == DnsStatus.NotFound)
            return Verdict.Reject(reply);
        call.State.DeferIfPermit ??= reply;
        return Verdict.Dunno;
    }
}
