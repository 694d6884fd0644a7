using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Engine.Network.Proxy;

/// <summary>
/// The PROXY protocol version 2 header a TCP load balancer (HAProxy, nginx, a cloud balancer) puts before the client's
/// first byte, so that the server learns the client's address (haproxy.org's proxy-protocol.txt, section 2.2). Binary:
/// a 12-byte signature, version and command, family and transport, the length of what follows, the addresses, and
/// TLVs, which are skipped. A LOCAL command (the balancer's own health check) carries no client.
/// </summary>
/// <param name="Source">The client, as the balancer saw it; null for LOCAL or an address family without one (UNSPEC, UNIX).</param>
/// <param name="Destination">The address the client connected to, on the balancer.</param>
public sealed record ProxyHeader(IPEndPoint? Source, IPEndPoint? Destination)
{
    /// <summary>The signature, then the version and command byte, the family byte and a two-byte length: what is read first.</summary>
    public const int FixedLength = 16;

    /// <summary>The most that may follow the fixed part (addresses and TLVs). A balancer sends far less; the limit bounds the read.</summary>
    public const int MaxBodyLength = 2048;

    private static ReadOnlySpan<byte> Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    /// <summary>How many bytes follow the fixed part, from the first <see cref="FixedLength"/> bytes; throws on anything else than a v2 header.</summary>
    public static int BodyLength(ReadOnlySpan<byte> start)
    {
        if (start.Length < FixedLength || !start[..12].SequenceEqual(Signature))
            throw new InvalidDataException(start.Length >= 6 && start[..6].SequenceEqual("PROXY "u8)
                ? "PROXY protocol version 1 (text); only version 2 is taken"
                : "no PROXY protocol v2 signature");
        if (start[12] >> 4 != 2)
            throw new InvalidDataException($"PROXY protocol version {start[12] >> 4}; only 2 is taken");
        if ((start[12] & 0x0F) > 1)
            throw new InvalidDataException($"PROXY protocol command {start[12] & 0x0F} is neither LOCAL nor PROXY");
        var length = BinaryPrimitives.ReadUInt16BigEndian(start[14..16]);
        if (length > MaxBodyLength)
            throw new InvalidDataException($"PROXY protocol header of {length} bytes is over the limit of {MaxBodyLength}");
        return length;
    }

    /// <summary>The header, from all of it: the fixed part and <see cref="BodyLength"/> bytes.</summary>
    public static ProxyHeader Parse(ReadOnlySpan<byte> header)
    {
        var length = BodyLength(header);
        if (header.Length != FixedLength + length)
            throw new InvalidDataException($"PROXY protocol header is {header.Length} bytes, not {FixedLength + length}");
        var local = (header[12] & 0x0F) == 0;
        var family = header[13] >> 4;
        var transport = header[13] & 0x0F;
        var body = header[FixedLength..];
        if (local)
            return new ProxyHeader(null, null); // the balancer's own connection: the addresses, if any, mean nothing
        // The spec's combinations: UNSPEC with UNSPEC, or INET, INET6 or UNIX with STREAM (or DGRAM, refused here).
        if (family > 3)
            throw new InvalidDataException($"PROXY protocol address family {family} is unknown");
        if (family == 0 ? transport != 0 : transport != 1)
            throw new InvalidDataException(transport == 2 ? "PROXY protocol transport is not a stream" : $"PROXY protocol family {family} with transport {transport}");
        return family switch
        {
            1 => Addresses(body, 4),
            2 => Addresses(body, 16),
            _ => new ProxyHeader(null, null), // UNSPEC (the balancer does not know the client) or UNIX sockets
        };
    }

    private static ProxyHeader Addresses(ReadOnlySpan<byte> body, int size)
    {
        if (body.Length < 2 * size + 4)
            throw new InvalidDataException($"PROXY protocol addresses need {2 * size + 4} bytes, the header has {body.Length}");
        var source = new IPAddress(body[..size]);
        if (source.IsIPv4MappedToIPv6)
            source = source.MapToIPv4(); // a balancer listening on IPv6 for IPv4 clients: the client is the IPv4 address
        var destination = new IPAddress(body.Slice(size, size));
        var sourcePort = BinaryPrimitives.ReadUInt16BigEndian(body.Slice(2 * size, 2));
        var destinationPort = BinaryPrimitives.ReadUInt16BigEndian(body.Slice(2 * size + 2, 2));
        return new ProxyHeader(new IPEndPoint(source, sourcePort), new IPEndPoint(destination, destinationPort));
    }

    /// <summary>Reads exactly the header from <paramref name="socket"/> (not a byte of what the client sends after it).</summary>
    public static async Task<ProxyHeader> ReadAsync(Socket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[FixedLength + MaxBodyLength];
        await ReceiveExactlyAsync(socket, buffer.AsMemory(0, FixedLength), cancellationToken).ConfigureAwait(false);
        var length = BodyLength(buffer);
        await ReceiveExactlyAsync(socket, buffer.AsMemory(FixedLength, length), cancellationToken).ConfigureAwait(false);
        return Parse(buffer.AsSpan(0, FixedLength + length));
    }

    private static async Task ReceiveExactlyAsync(Socket socket, Memory<byte> into, CancellationToken cancellationToken)
    {
        while (into.Length > 0)
        {
            var n = await socket.ReceiveAsync(into, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
                throw new InvalidDataException("the connection closed inside the PROXY protocol header");
            into = into[n..];
        }
    }

    /// <summary>A header as a balancer writes it (for tests and tools): PROXY over TCP from <paramref name="source"/> to <paramref name="destination"/>.</summary>
    public static byte[] Write(IPEndPoint source, IPEndPoint destination, ReadOnlySpan<byte> tlvs = default)
    {
        var size = source.AddressFamily == AddressFamily.InterNetwork ? 4 : 16;
        var body = 2 * size + 4 + tlvs.Length;
        var header = new byte[FixedLength + body];
        Signature.CopyTo(header);
        header[12] = 0x21;
        header[13] = (byte)((size == 4 ? 0x10 : 0x20) | 0x01);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(14), (ushort)body);
        source.Address.TryWriteBytes(header.AsSpan(FixedLength, size), out _);
        destination.Address.TryWriteBytes(header.AsSpan(FixedLength + size, size), out _);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(FixedLength + 2 * size), (ushort)source.Port);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(FixedLength + 2 * size + 2), (ushort)destination.Port);
        tlvs.CopyTo(header.AsSpan(FixedLength + 2 * size + 4));
        return header;
    }
}

/// <summary>
/// Which listeners take the PROXY protocol v2 (those behind a TCP load balancer) and from whom: a connection to such a
/// listener must come from a trusted network and start with the header, or it is closed (Dovecot's haproxy listeners and
/// haproxy_trusted_networks; Postfix's smtpd_upstream_proxy_protocol).
/// </summary>
/// <param name="Listeners">The listen endpoints, of any service, that sit behind a balancer.</param>
/// <param name="Trusted">Whether a peer is a balancer allowed to say who the client is.</param>
/// <param name="Timeout">How long the header may take to arrive.</param>
public sealed record ProxyProtocol(IReadOnlyCollection<IPEndPoint> Listeners, Func<IPAddress, bool> Trusted, TimeSpan Timeout)
{
    public bool On(IPEndPoint listener) => Listeners.Contains(listener);
}
