using System.Net;
using System.Net.Sockets;
using DnsClient;
using DnsClient.Protocol;

namespace Engine.Filtering.Dns;

public enum DnsStatus
{
    /// <summary>Records of the type asked for.</summary>
    Found,

    /// <summary>NXDOMAIN, or the name exists without such records: an answer.</summary>
    NotFound,

    /// <summary>No answer (time-out, SERVFAIL, refused): not a verdict, so a check defers rather than rejects.</summary>
    TempFail,
}

public readonly record struct DnsAnswer<T>(DnsStatus Status, IReadOnlyList<T> Records)
{
    public static DnsAnswer<T> None(DnsStatus status) => new(status, []);
}

/// <summary>
/// The DNS questions restrictions ask (DnsClient over the configured servers, with its cache, which keeps
/// each answer for its TTL): addresses, TXT, PTR and MX. Errors are answers with <see cref="DnsStatus.TempFail"/>,
/// never exceptions.
/// </summary>
public sealed class DnsLookup(ILookupClient dns)
{
    public async Task<DnsAnswer<IPAddress>> AddressesAsync(string name, CancellationToken ct = default)
    {
        var v4 = await QueryAsync(name, QueryType.A, r => r is ARecord a ? a.Address : null, ct).ConfigureAwait(false);
        var v6 = await QueryAsync(name, QueryType.AAAA, r => r is AaaaRecord a && a.Address.AddressFamily == AddressFamily.InterNetworkV6 ? a.Address : null, ct)
            .ConfigureAwait(false);
        var all = v4.Records.Concat(v6.Records).ToArray();
        return all.Length > 0 ? new DnsAnswer<IPAddress>(DnsStatus.Found, all)
            : v4.Status == DnsStatus.TempFail || v6.Status == DnsStatus.TempFail ? DnsAnswer<IPAddress>.None(DnsStatus.TempFail)
            : DnsAnswer<IPAddress>.None(DnsStatus.NotFound);
    }

    /// <summary>IPv4 addresses only: what DNS lists answer with.</summary>
    public Task<DnsAnswer<IPAddress>> ListedAsync(string name, CancellationToken ct = default) =>
        QueryAsync(name, QueryType.A, r => r is ARecord a ? a.Address : null, ct);

    public Task<DnsAnswer<string>> TxtAsync(string name, CancellationToken ct = default) =>
        QueryAsync(name, QueryType.TXT, r => r is TxtRecord t ? string.Concat(t.Text) : null, ct);

    public Task<DnsAnswer<string>> PtrAsync(IPAddress address, CancellationToken ct = default) =>
        QueryAsync(ReverseName(address, "in-addr.arpa", "ip6.arpa"), QueryType.PTR, r => r is PtrRecord p ? p.PtrDomainName.Value.TrimEnd('.') : null, ct);

    /// <summary>The MX host names of a domain ("." alone is a null MX, RFC 7505).</summary>
    public Task<DnsAnswer<string>> MxAsync(string domain, CancellationToken ct = default) =>
        QueryAsync(domain, QueryType.MX, r => r is MxRecord m ? m.Exchange.Value is "." or "" ? "." : m.Exchange.Value.TrimEnd('.') : null, ct);

    /// <summary>An address as a DNS list or reverse zone writes it: "7.2.0.192.zone", nibbles for IPv6.</summary>
    public static string ReverseName(IPAddress address, string zone4, string zone6)
    {
        if (address.IsIPv4MappedToIPv6)
            address = address.MapToIPv4();
        var bytes = address.GetAddressBytes();
        if (address.AddressFamily == AddressFamily.InterNetwork)
            return $"{bytes[3]}.{bytes[2]}.{bytes[1]}.{bytes[0]}.{zone4}";
        var nibbles = bytes.Reverse().SelectMany(b => new[] { b & 0xF, b >> 4 }).Select(n => n.ToString("x"));
        return $"{string.Join('.', nibbles)}.{zone6}";
    }

    private async Task<DnsAnswer<T>> QueryAsync<T>(string name, QueryType type, Func<DnsResourceRecord, T?> select, CancellationToken ct) where T : class
    {
        IDnsQueryResponse response;
        try
        {
            response = await dns.QueryAsync(name, type, cancellationToken: ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DnsResponseException or ArgumentException or OperationCanceledException)
        {
            return DnsAnswer<T>.None(DnsStatus.TempFail);
        }
        if (response.Header.ResponseCode == DnsHeaderResponseCode.NotExistentDomain)
            return DnsAnswer<T>.None(DnsStatus.NotFound);
        if (response.HasError)
            return DnsAnswer<T>.None(DnsStatus.TempFail);
        var records = response.Answers.Select(select).OfType<T>().ToArray();
        return records.Length > 0 ? new DnsAnswer<T>(DnsStatus.Found, records) : DnsAnswer<T>.None(DnsStatus.NotFound);
    }
}
