using System.Net;
using Engine.Filtering.Dns;
using Engine.Filtering.Restrictions;
using Engine.Filtering.Restrictions.Client;

namespace Engine.Tests.Filtering;

/// <summary>DNS list names, answer filters and weights, as Postfix and postscreen write them.</summary>
public sealed class DnsListSpecs
{
    [Fact]
    public void Addresses_are_reversed_by_octet_and_ipv6_by_nibble()
    {
        Assert.Equal("7.2.0.192.zen.example", DnsLookup.ReverseName(IPAddress.Parse("192.0.2.7"), "zen.example", "zen.example"));
        Assert.Equal("7.2.0.192.in-addr.arpa", DnsLookup.ReverseName(IPAddress.Parse("::ffff:192.0.2.7"), "in-addr.arpa", "ip6.arpa"));
        Assert.Equal("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
            DnsLookup.ReverseName(IPAddress.Parse("2001:db8::1"), "in-addr.arpa", "ip6.arpa"));
    }

    [Theory]
    [InlineData("127.0.0.2", "127.0.0.2", true)]
    [InlineData("127.0.0.2", "127.0.0.3", false)]
    [InlineData("127.0.0.[2..11]", "127.0.0.11", true)]
    [InlineData("127.0.0.[2..11]", "127.0.0.12", false)]
    [InlineData("127.0.[0..255].[2;4;6..8]", "127.0.9.7", true)]
    [InlineData("127.0.[0..255].[2;4;6..8]", "127.0.9.5", false)]
    public void A_filter_matches_each_octet(string filter, string answer, bool matches) =>
        Assert.Equal(matches, ListFilter.Parse(filter).Matches(IPAddress.Parse(answer)));

    [Fact]
    public void Without_a_filter_only_loopback_answers_count_and_bad_sites_are_refused()
    {
        Assert.True(ListFilter.Any.Matches(IPAddress.Parse("127.0.1.2")));
        Assert.False(ListFilter.Any.Matches(IPAddress.Parse("10.0.0.1"))); // an error answer, not a listing
        Assert.Equal(("zen.example", true), (ListFilter.ParseSite("zen.example.=127.0.0.2").Zone, ListFilter.ParseSite("zen.example=127.0.0.2").Filter.Matches(IPAddress.Parse("127.0.0.2"))));
        Assert.Throws<FormatException>(() => ListFilter.Parse("127.0.0"));
        Assert.Throws<FormatException>(() => ListFilter.Parse("127.0.0.[2..300]"));
        Assert.Throws<FormatException>(() => ListFilter.ParseSite("=127.0.0.2"));
    }

    [Fact]
    public void Scored_lists_take_a_weight_after_a_star()
    {
        Assert.Equal(3, ScoredList.Parse("zen.example*3").Weight);
        Assert.Equal(-2, ScoredList.Parse("list.dnswl.example=127.0.[0..255].[0..3]*-2").Weight);
        Assert.Equal(1, ScoredList.Parse("bl.example").Weight);
        Assert.Throws<FormatException>(() => ScoredList.Parse("bl.example*x"));
        Assert.Contains("engine.smtp.dnsbl.sites", Assert.Throws<FormatException>(() => new RestrictionFactory().Parse("client", ["reject_dnsbl_score"])).Message);
        var factory = new RestrictionFactory(scoredLists: [ScoredList.Parse("a.example*2")]);
        factory.Parse("client", ["reject_rbl_client zen.example", "reject_dnsbl_score", "reject_rhsbl_client dbl.example"]);
        Assert.Equal(["a.example", "zen.example"], factory.ClientZones.Order().ToArray());
        Assert.True(factory.NeedsClientName);
        Assert.False(new RestrictionFactory().NeedsClientName);
    }
}
