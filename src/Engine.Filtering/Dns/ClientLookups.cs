using System.Collections.Concurrent;
using System.Net;

namespace Engine.Filtering.Dns;

/// <summary>The client's names: the PTR name (or null), and the first PTR name whose addresses include the client's (or "unknown").</summary>
public sealed record ClientName(string Verified, string? Reverse, bool TempFail)
{
    public static readonly ClientName Unknown = new("unknown", null, false);
}

/// <summary>
/// The DNS questions about one client, started when it connects (the lists it may be on, its name) so they
/// run in parallel with the SMTP dialogue, and shared by every check of the session: each question is asked
/// once per connection.
/// </summary>
public sealed class ClientLookups
{
    private readonly IPAddress _address;
    private readonly DnsLookup _dns;
    private readonly ConcurrentDictionary<string, Task<DnsAnswer<IPAddress>>> _listed = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, Task<DnsAnswer<string>>> _texts = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lazy<Task<ClientName>> _name;

    public ClientLookups(IPAddress address, DnsLookup dns, IEnumerable<string> zones, bool name)
    {
        _address = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        _dns = dns;
        _name = new Lazy<Task<ClientName>>(() => ResolveNameAsync(_address, dns));
        foreach (var zone in zones)
            _ = ListedAsync(DnsLookup.ReverseName(_address, zone, zone));
        if (name)
            _ = _name.Value;
    }

    /// <summary>The verified name if it is known by now, else "unknown" (for log lines that cannot wait).</summary>
    public string NameSoFar => _name.IsValueCreated && _name.Value.IsCompletedSuccessfully ? _name.Value.Result.Verified : "unknown";

    public Task<ClientName> NameAsync() => _name.Value;

    /// <summary>The A records of a DNS list query name ("7.2.0.192.zen.example"), asked once.</summary>
    public Task<DnsAnswer<IPAddress>> ListedAsync(string query) => _listed.GetOrAdd(query, q => _dns.ListedAsync(q));

    public Task<DnsAnswer<string>> TxtAsync(string query) => _texts.GetOrAdd(query, q => _dns.TxtAsync(q));

    /// <summary>PTR, then the addresses of each name: the first that leads back to the client is its verified name (forward-confirmed reverse DNS).</summary>
    private static async Task<ClientName> ResolveNameAsync(IPAddress address, DnsLookup dns)
    {
        var ptr = await dns.PtrAsync(address).ConfigureAwait(false);
        if (ptr.Status != DnsStatus.Found)
            return new ClientName("unknown", null, ptr.Status == DnsStatus.TempFail);
        var tempFail = false;
        foreach (var name in ptr.Records.Where(HostNames.IsValidHost).Take(10))
        {
            var forward = await dns.AddressesAsync(name).ConfigureAwait(false);
            tempFail |= forward.Status == DnsStatus.TempFail;
            if (forward.Records.Any(a => a.Equals(address)))
                return new ClientName(name.ToLowerInvariant(), name, false);
        }
        return new ClientName("unknown", ptr.Records[0], tempFail);
    }
}
