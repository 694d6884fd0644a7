using System.Net;
using Engine.Network.Proxy;

namespace Engine.Tests.Network;

public sealed class ProxyHeaderSpecs
{
    private static readonly IPEndPoint Client = IPEndPoint.Parse("192.0.2.7:40123");
    private static readonly IPEndPoint Balancer = IPEndPoint.Parse("198.51.100.1:25");

    [Fact]
    public void An_IPv4_header_gives_the_client_and_the_address_it_reached()
    {
        var header = ProxyHeader.Parse(ProxyHeader.Write(Client, Balancer));
        Assert.Equal(Client, header.Source);
        Assert.Equal(Balancer, header.Destination);
    }

    [Fact]
    public void An_IPv6_header_with_TLVs_gives_the_client_and_skips_the_TLVs()
    {
        var client = IPEndPoint.Parse("[2001:db8::5]:5555");
        byte[] tlvs = [0x04, 0x00, 0x03, (byte)'a', (byte)'b', (byte)'c']; // PP2_TYPE_NOOP with three bytes
        var bytes = ProxyHeader.Write(client, IPEndPoint.Parse("[2001:db8::1]:993"), tlvs);
        Assert.Equal(16 + 36 + 6, bytes.Length);
        Assert.Equal(36 + 6, ProxyHeader.BodyLength(bytes));
        Assert.Equal(client, ProxyHeader.Parse(bytes).Source);
    }

    [Fact]
    public void A_LOCAL_header_names_no_client()
    {
        var bytes = ProxyHeader.Write(Client, Balancer);
        bytes[12] = 0x20; // version 2, LOCAL: a health check of the balancer
        Assert.Null(ProxyHeader.Parse(bytes).Source);
    }

    [Fact]
    public void An_UNSPEC_family_names_no_client()
    {
        byte[] bytes = [.. ProxyHeader.Write(Client, Balancer)[..12], 0x21, 0x00, 0x00, 0x00];
        Assert.Null(ProxyHeader.Parse(bytes).Source);
    }

    [Theory]
    [InlineData("PROXY TCP4 192.0.2.7 198.51.100.1 40123 25\r\n", "version 1")]
    [InlineData("EHLO client.example\r\n", "no PROXY protocol v2 signature")]
    [InlineData("", "no PROXY protocol v2 signature")]
    public void What_is_not_a_v2_header_is_refused(string text, string reason)
    {
        var e = Assert.Throws<InvalidDataException>(() => ProxyHeader.BodyLength(System.Text.Encoding.ASCII.GetBytes(text)));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(12, 0x11, "version 1")]
    [InlineData(12, 0x22, "command 2")]
    [InlineData(13, 0x12, "not a stream")]
    [InlineData(13, 0x41, "family 4")]
    [InlineData(13, 0x10, "family 1 with transport 0")]
    [InlineData(13, 0x01, "family 0 with transport 1")]
    public void A_wrong_version_command_transport_or_family_is_refused(int index, byte value, string reason)
    {
        var bytes = ProxyHeader.Write(Client, Balancer);
        bytes[index] = value;
        var e = Assert.Throws<InvalidDataException>(() => ProxyHeader.Parse(bytes));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_length_over_the_limit_is_refused_before_anything_more_is_read()
    {
        var bytes = ProxyHeader.Write(Client, Balancer)[..16];
        bytes[14] = 0xFF;
        bytes[15] = 0xFF;
        Assert.Contains("over the limit", Assert.Throws<InvalidDataException>(() => ProxyHeader.BodyLength(bytes)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_body_too_short_for_its_addresses_is_refused()
    {
        var bytes = ProxyHeader.Write(Client, Balancer);
        bytes[13] = 0x21; // says IPv6, carries IPv4's 12 bytes
        Assert.Contains("need 36 bytes", Assert.Throws<InvalidDataException>(() => ProxyHeader.Parse(bytes)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_IPv4_client_written_as_IPv6_is_taken_as_IPv4()
    {
        var mapped = new IPEndPoint(IPAddress.Parse("::ffff:192.0.2.7"), 4000);
        var header = ProxyHeader.Parse(ProxyHeader.Write(mapped, IPEndPoint.Parse("[2001:db8::1]:25")));
        Assert.Equal(IPAddress.Parse("192.0.2.7"), header.Source!.Address);
    }
}
