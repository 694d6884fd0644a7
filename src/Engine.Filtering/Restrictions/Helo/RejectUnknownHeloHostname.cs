using Engine.Filtering.Dns;

namespace Engine.Filtering.Restrictions.Helo;

/// <summary>reject_unknown_helo_hostname: the HELO/EHLO name has no address and no MX (450 4.7.1 Host not found); address literals pass.</summary>
public sealed class RejectUnknownHeloHostname : IRestriction
{
    public string Name => "reject_unknown_helo_hostname";

    public async ValueTask<Verdict> CheckAsync(RestrictionCall call)
    {
        if (call.Facts.Helo is not { } helo || HostNames.IsAddressLiteral(helo))
            return Verdict.Dunno;
        var dns = call.Site.Resolver;
        if ((await dns.AddressesAsync(helo, call.Cancel).ConfigureAwait(false)).Status == DnsStatus.Found
            || (await dns.MxAsync(helo, call.Cancel).ConfigureAwait(false)).Status == DnsStatus.Found)
            return Verdict.Dunno;
        return Verdict.Reject(Replies.Rejected(450, "4.7.1", helo, "Helo command", "Host not found"));
    }
}
