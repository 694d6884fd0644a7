using System.Net;
using System.Net.Sockets;
using DnsClient;
using DnsClient.Protocol;

namespace Engine.Delivery.Mx;

/// <summary>A mail exchanger with its addresses.</summary>
public sealed record MxHost(string Name, int Preference, IReadOnlyList<IPAddress> Addresses);

/// <summary>What the DNS says about where a domain's mail goes.</summary>
public abstract record MxResult
{
    /// <summary>Exchangers to try in this order.</summary>
    public sealed record Hosts(IReadOnlyList<MxHost> List) : MxResult;

    /// <summary>RFC 7505: the domain accepts no mail (one MX of preference 0 with exchange ".").</summary>
    public sealed record NullMx : MxResult;

    /// <summary>The domain, or every exchanger's address, does not exist: a permanent failure.</summary>
    public sealed record NotFound(string Reason) : MxResult;

    /// <summary>The DNS did not answer, or answered with an error: try again later.</summary>
    public sealed record TryAgain(string Reason) : MxResult;
}

/// <summary>
/// MX resolution as RFC 5321 section 5.1 asks: MX records by preference, in random order among equal
/// preferences (to spread the load); no MX means the domain itself is the exchanger (implicit MX, by its
/// A/AAAA records); a null MX (RFC 7505) means no mail. CNAMEs are followed by the resolver, never looped.
/// </summary>
public sealed class MxResolver(ILookupClient dns)
{
    public async Task<MxResult> ResolveAsync(string domain, CancellationToken ct = default)
    {
        IDnsQueryResponse mx;
        try
        {
            mx = await dns.QueryAsync(domain, QueryType.MX, cancellationToken: ct).ConfigureAwait(false);
        }
        catch (DnsResponseException e)
        {
            return new MxResult.TryAgain($"MX lookup of {domain}: {e.Message}");
        }
        if (mx.Header.ResponseCode == DnsHeaderResponseCode.NotExistentDomain)
            return new MxResult.NotFound($"Host or domain name not found. Name service error for name={domain} type=MX: Host not found");
        if (mx.HasError)
            return new MxResult.TryAgain($"MX lookup of {domain}: {mx.ErrorMessage}");
        var records = mx.Answers.MxRecords().ToList();
        if (records.Count == 1 && records[0].Exchange.Value is "." or "")
            return new MxResult.NullMx();
        var candidates = records.Count == 0
            ? [(Name: domain, Preference: 0)]
            : Order(records.Select(r => (Name: r.Exchange.Value.TrimEnd('.'), Preference: (int)r.Preference)).ToList());

        var hosts = new List<MxHost>();
        var troubled = false;
        foreach (var (name, preference) in candidates)
        {
            var addresses = new List<IPAddress>();
            foreach (var type in (QueryType[])[QueryType.A, QueryType.AAAA])
            {
                try
                {
                    var answer = await dns.QueryAsync(name, type, cancellationToken: ct).ConfigureAwait(false);
                    // NXDOMAIN or no data is an answer; any other error is trouble, not a verdict.
                    troubled |= answer.HasError && answer.Header.ResponseCode != DnsHeaderResponseCode.NotExistentDomain;
                    addresses.AddRange(answer.Answers.OfType<AddressRecord>().Select(a => a.Address)
                        .Where(a => a.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6));
                }
                catch (DnsResponseException)
                {
                    troubled = true;
                }
            }
            if (addresses.Count > 0)
                hosts.Add(new MxHost(name, preference, addresses));
        }
        if (hosts.Count > 0)
            return new MxResult.Hosts(hosts);
        return troubled
            ? new MxResult.TryAgain($"address lookups for the mail exchangers of {domain} failed")
            : new MxResult.NotFound($"no address for the mail exchangers of {domain}");
    }

    /// <summary>By preference, ascending; shuffled among equal preferences (RFC 5321 section 5.1).</summary>
    public static IReadOnlyList<(string Name, int Preference)> Order(IReadOnlyList<(string Name, int Preference)> records) =>
        records.GroupBy(r => r.Preference).OrderBy(g => g.Key)
            .SelectMany(g => g.OrderBy(_ => Random.Shared.Next())).ToArray();
}
