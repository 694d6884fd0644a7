using Engine.Filtering.Dns;

namespace Engine.Filtering.Restrictions.Any;

/// <summary>Whose domain a right-hand-side list is asked about.</summary>
public enum RhsblSubject
{
    Client,
    ReverseClient,
    Helo,
    Sender,
    Recipient,
}

/// <summary>
/// reject_rhsbl_client, reject_rhsbl_reverse_client, reject_rhsbl_helo, reject_rhsbl_sender,
/// reject_rhsbl_recipient zone[=filter]: the domain (the client's verified or reverse name, the HELO name, the
/// sender's or recipient's domain) is on a domain list: 554 5.7.1 Service unavailable; Sender address
/// [domain] blocked using zone.
/// </summary>
public sealed class RejectRhsbl(RhsblSubject subject, string site) : IRestriction
{
    private readonly (string Zone, ListFilter Filter) _list = ListFilter.ParseSite(site);

    public string Name => $"reject_rhsbl_{subject switch { RhsblSubject.ReverseClient => "reverse_client", var s => s.ToString().ToLowerInvariant() }} {site}";

    public async ValueTask<Verdict> CheckAsync(RestrictionCall call)
    {
        var facts = call.Facts;
        var (domain, what) = subject switch
        {
            RhsblSubject.Client or RhsblSubject.ReverseClient =>
                (await call.ClientNameAsync().ConfigureAwait(false) is var name && subject == RhsblSubject.Client
                    ? name.Verified == "unknown" ? null : name.Verified
                    : name.Reverse, "Client host"),
            RhsblSubject.Helo => (facts.Helo is { } helo && !HostNames.IsAddressLiteral(helo) ? helo : null, "Helo command"),
            RhsblSubject.Sender => (facts.Sender is { IsNull: false } sender ? sender.Domain : null, "Sender address"),
            _ => (facts.Recipient?.Domain, "Recipient address"),
        };
        if (domain is null || !HostNames.IsValidHost(domain))
            return Verdict.Dunno;
        var query = $"{domain.TrimEnd('.')}.{_list.Zone}";
        return await DnsList.IsListedAsync(call, query, _list.Filter).ConfigureAwait(false)
            ? Verdict.Reject(await DnsList.RejectionAsync(call, query, what, domain, _list.Zone).ConfigureAwait(false))
            : Verdict.Dunno;
    }
}
