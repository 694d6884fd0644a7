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
/// [a@domain] blocked using zone. As Postfix, the reply names the whole address for a sender or recipient, and
/// "Unverified Client host" for the reverse name.
/// </summary>
public sealed class RejectRhsbl(RhsblSubject subject, string site) : IRestriction
{
    private readonly (string Zone, ListFilter Filter) _list = ListFilter.ParseSite(site);

    public string Name => $"reject_rhsbl_{subject switch { RhsblSubject.ReverseClient => "reverse_client", var s => s.ToString().ToLowerInvariant() }} {site}";

    public async ValueTask<Verdict> CheckAsync(RestrictionCall call)
    {
        var facts = call.Facts;
        var (domain, what, named) = subject switch
        {
            RhsblSubject.Client or RhsblSubject.ReverseClient =>
                (await call.ClientNameAsync().ConfigureAwait(false) is var name && subject == RhsblSubject.Client
                    ? name.Verified == "unknown" ? null : name.Verified
                    : name.Reverse, subject == RhsblSubject.Client ? "Client host" : "Unverified Client host", null),
            RhsblSubject.Helo => (facts.Helo is { } helo && !HostNames.IsAddressLiteral(helo) ? helo : null, "Helo command", null),
            RhsblSubject.Sender => facts.Sender is { IsNull: false } sender ? (sender.Domain, "Sender address", sender.ToString()) : (null, "", null),
            _ => (facts.Recipient?.Domain, "Recipient address", facts.Recipient?.ToString()),
        };
        if (domain is null || !HostNames.IsValidHost(domain))
            return Verdict.Dunno;
        var query = $"{domain.TrimEnd('.')}.{_list.Zone}";
        return await DnsList.IsListedAsync(call, query, _list.Filter).ConfigureAwait(false)
            ? Verdict.Reject(await DnsList.RejectionAsync(call, query, what, named ?? domain, _list.Zone).ConfigureAwait(false))
            : Verdict.Dunno;
    }
}
