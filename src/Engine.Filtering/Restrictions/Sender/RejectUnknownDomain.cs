using Engine.Filtering.Dns;
using Engine.Primitives;

namespace Engine.Filtering.Restrictions.Sender;

/// <summary>
/// reject_unknown_sender_domain and reject_unknown_recipient_domain: the domain has no MX and no address
/// (450 4.1.8 / 4.1.2 Domain not found), or a null MX (RFC 7505: 550 5.7.27 for a sender, 556 5.1.10 for a
/// recipient). When DNS does not answer, the same 450 comes only if nothing later rejects (Postfix's
/// unknown_address_tempfail_action, defer_if_permit). The null sender, address literals and this node's own
/// destinations are not looked up.
/// </summary>
public sealed class RejectUnknownDomain(bool sender) : IRestriction
{
    public string Name => sender ? "reject_unknown_sender_domain" : "reject_unknown_recipient_domain";

    public async ValueTask<Verdict> CheckAsync(RestrictionCall call)
    {
        var address = sender ? call.Facts.Sender : call.Facts.Recipient;
        if (address is null || address.IsNull || HostNames.IsAddressLiteral(address.Domain) || call.Site.IsAuthorizedDestination(address.Domain))
            return Verdict.Dunno;
        var what = sender ? "Sender address" : "Recipient address";
        var dns = call.Site.Resolver;
        var mx = await dns.MxAsync(address.Domain, call.Cancel).ConfigureAwait(false);
        if (mx.Status == DnsStatus.Found)
        {
            return mx.Records is ["."]
                ? Verdict.Reject(Replies.Rejected(sender ? 550 : 556, sender ? "5.7.27" : "5.1.10", address.ToString(), what,
                    $"Domain {address.Domain} does not accept mail (nullMX)"))
                : Verdict.Dunno;
        }
        var addresses = mx.Status == DnsStatus.NotFound ? (await dns.AddressesAsync(address.Domain, call.Cancel).ConfigureAwait(false)).Status : mx.Status;
        if (addresses == DnsStatus.Found)
            return Verdict.Dunno;
        var reply = Replies.Rejected(450, sender ? "4.1.8" : "4.1.2", address.ToString(), what, "Domain not found");
        if (addresses == DnsStatus.NotFound)
            return Verdict.Reject(reply);
        call.State.DeferIfPermit ??= reply;
        return Verdict.Dunno;
    }
}
