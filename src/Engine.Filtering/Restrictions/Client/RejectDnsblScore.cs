using Engine.Filtering.Dns;
using Engine.Primitives;

namespace Engine.Filtering.Restrictions.Client;

/// <summary>One list of engine.smtp.dnsbl.sites: "zone[=filter][*weight]" (postscreen's dnsbl_sites).</summary>
public sealed record ScoredList(string Zone, ListFilter Filter, int Weight)
{
    public static ScoredList Parse(string site)
    {
        var star = site.LastIndexOf('*');
        var weight = 1;
        if (star >= 0 && !int.TryParse(site[(star + 1)..], out weight))
            throw new FormatException($"'{site}': the weight after * is not a whole number");
        var (zone, filter) = ListFilter.ParseSite(star < 0 ? site : site[..star]);
        return new ScoredList(zone, filter, weight);
    }
}

/// <summary>
/// reject_dnsbl_score: the weights of every list of engine.smtp.dnsbl.sites the client is on, added up
/// (allow-lists with negative weights take away); at dnsbl.threshold or more, 554 5.7.1, naming the lists. As
/// postscreen's dnsbl_threshold: one list alone need not block a client, and a known good one can outweigh a listing.
/// </summary>
public sealed class RejectDnsblScore(IReadOnlyList<ScoredList> lists, int threshold) : IRestriction
{
    public string Name => "reject_dnsbl_score";

    public IEnumerable<string> Zones => lists.Select(l => l.Zone);

    public async ValueTask<Verdict> CheckAsync(RestrictionCall call)
    {
        var listed = new List<ScoredList>();
        var pending = lists.Select(l => (List: l, Listed: DnsList.IsListedAsync(call, DnsList.ClientQuery(call.Facts.ClientAddress, l.Zone), l.Filter))).ToArray();
        foreach (var (list, isListed) in pending)
        {
            if (await isListed.ConfigureAwait(false))
                listed.Add(list);
        }
        var score = listed.Sum(l => l.Weight);
        if (score < threshold)
            return Verdict.Dunno;
        var names = string.Join(", ", listed.Where(l => l.Weight > 0).OrderByDescending(l => l.Weight).Select(l => l.Zone));
        return Verdict.Reject(new SmtpReply(554, "5.7.1", $"Service unavailable; Client host [{call.Facts.ClientAddress}] blocked using {names} (score {score})"));
    }
}
