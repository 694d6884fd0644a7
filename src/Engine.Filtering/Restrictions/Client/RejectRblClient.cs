using Engine.Filtering.Dns;

namespace Engine.Filtering.Restrictions.Client;

/// <summary>
/// reject_rbl_client zone[=filter]: the client's address is on a DNS list (554 5.7.1 Service unavailable;
/// Client host [address] blocked using zone; its TXT reason). permit_dnswl_client: on an allow-list, permitted.
/// A list that does not answer lists no one.
/// </summary>
public sealed class RejectRblClient(string site, bool permit) : IRestriction
{
    private readonly (string Zone, ListFilter Filter) _list = ListFilter.ParseSite(site);

    public string Name => (permit ? "permit_dnswl_client " : "reject_rbl_client ") + site;

    public string Zone => _list.Zone;

    public async ValueTask<Verdict> CheckAsync(RestrictionCall call)
    {
        var query = DnsList.ClientQuery(call.Facts.ClientAddress, _list.Zone);
        if (!await DnsList.IsListedAsync(call, query, _list.Filter).ConfigureAwait(false))
            return Verdict.Dunno;
        return permit ? Verdict.Permit
            : Verdict.Reject(await DnsList.RejectionAsync(call, query, "Client host", call.Facts.ClientAddress.ToString(), _list.Zone).ConfigureAwait(false));
    }
}
