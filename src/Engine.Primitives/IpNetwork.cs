using System.Net;
using System.Net.Sockets;

namespace Engine.Primitives;

/// <summary>An address block in CIDR notation (RFC 4632), for mynetworks and access maps.</summary>
public sealed record IpNetwork(IPAddress Prefix, int PrefixLength)
{
    public static IpNetwork Parse(string text)
    {
        var slash = text.IndexOf('/');
        var address = IPAddress.Parse(slash < 0 ? text : text[..slash]);
        var max = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var length = slash < 0 ? max : int.Parse(text[(slash + 1)..]);
        if (length < 0 || length > max)
            throw new FormatException($"Bad prefix length in '{text}'");
        return new IpNetwork(address, length);
    }

    public bool Contains(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
            address = address.MapToIPv4();
        if (address.AddressFamily != Prefix.AddressFamily)
            return false;
        Span<byte> a = stackalloc byte[16];
        Span<byte> p = stackalloc byte[16];
        address.TryWriteBytes(a, out var n);
        Prefix.TryWriteBytes(p, out _);
        var bits = PrefixLength;
        for (var i = 0; i < n && bits > 0; i++, bits -= 8)
        {
            var mask = bits >= 8 ? 0xFF : (byte)(0xFF << (8 - bits));
            if ((a[i] & mask) != (p[i] & mask))
                return false;
        }
        return true;
    }

    public override string ToString() => $"{Prefix}/{PrefixLength}";
}
