using System.Net;
using Engine.Primitives;

namespace Engine.Tests.Primitives;

public sealed class PrimitivesSpecs
{
    [Fact]
    public void QueueId_should_tell_when_it_was_made()
    {
        var at = new DateTimeOffset(2026, 11, 28, 13, 14, 15, 678, TimeSpan.Zero);
        Assert.Equal(at, QueueId.New(at).Time);
    }

    [Fact]
    public void QueueId_should_be_unique_sortable_and_parseable()
    {
        var earlier = QueueId.New(DateTimeOffset.UnixEpoch.AddYears(50));
        var later = QueueId.New(DateTimeOffset.UnixEpoch.AddYears(51));
        Assert.True(string.CompareOrdinal(earlier.Value, later.Value) < 0);
        var ids = Enumerable.Range(0, 10_000).Select(_ => QueueId.New().Value).ToHashSet();
        Assert.Equal(10_000, ids.Count);
        Assert.Equal(later, QueueId.Parse(later.Value));
        Assert.False(QueueId.TryParse("too-short", out _));
        Assert.False(QueueId.TryParse("01M8GNQTR71X5XTU", out _)); // U is not Crockford base32
    }

    [Fact]
    public void New_queue_ids_never_repeat_and_each_sorts_after_the_one_before()
    {
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var ids = Enumerable.Range(0, 100_000).Select(_ => QueueId.New()).ToList();
        var after = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        // Many share a millisecond (their tails count up); with a random tail per id, 100,000 would hold about five pairs.
        Assert.True(ids.GroupBy(i => i.Time).Max(g => g.Count()) > 1);
        for (var i = 1; i < ids.Count; i++)
            Assert.True(string.CompareOrdinal(ids[i - 1].Value, ids[i].Value) < 0, $"{ids[i - 1]} then {ids[i]}");
        Assert.All(ids, id => Assert.InRange(id.Time.ToUnixTimeMilliseconds(), before, after + 1));
    }

    [Fact]
    public void QueueId_partition_should_be_stable_and_spread()
    {
        var id = QueueId.Parse("01M8GNQTR71X5XT3");
        Assert.Equal(id.Partition(16), QueueId.Parse("01M8GNQTR71X5XT3").Partition(16));
        var used = Enumerable.Range(0, 2000).Select(_ => QueueId.New().Partition(16)).ToHashSet();
        Assert.Equal(16, used.Count);
    }

    [Theory]
    [InlineData("127.0.0.0/8", "127.1.2.3", true)]
    [InlineData("127.0.0.0/8", "128.0.0.1", false)]
    [InlineData("192.0.2.0/25", "192.0.2.127", true)]
    [InlineData("192.0.2.0/25", "192.0.2.128", false)]
    [InlineData("::1/128", "::1", true)]
    [InlineData("2001:db8::/32", "2001:db8:ffff::1", true)]
    [InlineData("2001:db8::/32", "2001:db9::1", false)]
    [InlineData("127.0.0.0/8", "::ffff:127.0.0.1", true)]
    [InlineData("10.0.0.1", "10.0.0.1", true)]
    public void IpNetwork_should_match_by_prefix(string network, string address, bool expected)
    {
        Assert.Equal(expected, IpNetwork.Parse(network).Contains(IPAddress.Parse(address)));
    }

    [Fact]
    public void SmtpReply_should_render_multiline_and_parse_configured_text()
    {
        var reply = new SmtpReply(250, null, ["host", "PIPELINING", "DSN"]);
        Assert.Equal("250-host\r\n250-PIPELINING\r\n250 DSN\r\n", reply.Render());
        Assert.Equal("550 5.1.1 No such user\r\n", new SmtpReply(550, "5.1.1", "No such user").Render());
        var parsed = SmtpReply.Parse("252 2.0.0 Cannot VRFY user");
        Assert.Equal(252, parsed.Code);
        Assert.Equal("2.0.0", parsed.Enhanced);
        Assert.Equal("Cannot VRFY user", parsed.Text);
        Assert.Throws<FormatException>(() => SmtpReply.Parse("ok"));
    }

    [Fact]
    public void EmailAddress_should_fold_the_domain_only()
    {
        var a = new EmailAddress("Jane", "Example.ORG");
        Assert.Equal("Jane@example.org", a.ToString());
        Assert.False(a.IsInternational);
        Assert.True(new EmailAddress("jöhn", "example.org").IsInternational);
        Assert.Equal("", EmailAddress.Null.ToString());
    }
}
