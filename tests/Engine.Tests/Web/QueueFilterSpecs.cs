using Engine.Messages;
using Engine.Messages.Queue;
using Engine.Primitives;
using Engine.Web.Admin;

namespace Engine.Tests.Web;

/// <summary>The operators' queue filters: parsed and checked by the API (QueueFilter), matched in the partitions (QueueQuery).</summary>
public sealed class QueueFilterSpecs
{
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    private static QueuedMessage Message(string sender, string recipient, QueueState state, TimeSpan age) =>
        new(QueueId.New(Now - age), new Envelope(sender, [new EnvelopeRecipient(recipient, DsnNotify.Unspecified)], BodyType.SevenBit, false,
            DsnReturn.Unspecified, null, new ClientInfo("192.0.2.1", "unknown", "client.test", "ESMTP"), Now - age, 100), "blob", state,
            Deferrals: new Dictionary<string, Deferral> { ["target@alias.test"] = new(1, "451 later") });

    private static bool Matches(QueuedMessage m, string? queue = null, string? sender = null, string? recipient = null, string? domain = null,
        string? minAge = null) => QueueFilter.Query(queue, sender, recipient, domain, minAge, Now).Matches(m, m.State);

    [Fact]
    public void A_filter_matches_queue_sender_recipient_domain_and_age_together()
    {
        var m = Message("Jane@Campus.test", "bob@example.net", QueueState.Deferred, TimeSpan.FromHours(3));
        Assert.True(Matches(m));
        Assert.True(Matches(m, "deferred", "jane@campus.test", "@EXAMPLE.net", "example.net", "2h"));
        Assert.False(Matches(m, queue: "hold"));
        Assert.False(Matches(m, sender: "jane@campus")); // a whole address, not a prefix
        Assert.True(Matches(m, sender: "@campus.test"));
        Assert.False(Matches(m, recipient: "carol@example.net"));
        Assert.True(Matches(m, recipient: "target@alias.test")); // an alias target the queue has a state for
        Assert.False(Matches(m, domain: "example.org"));
        Assert.False(Matches(m, minAge: "4h"));
        Assert.False(new QueueQuery(State: QueueState.Deferred).Matches(m, QueueState.Active)); // what the operator sees counts
        Assert.False(new QueueQuery(Id: QueueId.New(Now)).Matches(m, m.State));
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    [InlineData("@")]
    public void An_empty_filter_value_is_refused_rather_than_matching_everything(string value)
    {
        var m = Message("a@b.test", "c@d.test", QueueState.Deferred, TimeSpan.Zero);
        Assert.Throws<FormatException>(() => Matches(m, sender: value));
        Assert.Throws<FormatException>(() => Matches(m, recipient: value));
        Assert.Throws<FormatException>(() => Matches(m, domain: value));
    }

    [Theory]
    [InlineData("90", 90)]
    [InlineData("90s", 90)]
    [InlineData("15m", 900)]
    [InlineData("2h", 7200)]
    [InlineData("1.5d", 129600)]
    public void Ages_read_with_their_unit(string text, double seconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(seconds), QueueFilter.ParseAge(text));
    }

    [Theory]
    [InlineData("2w")]
    [InlineData("-5m")]
    [InlineData("soon")]
    [InlineData("NaN")]
    [InlineData("1e400")]
    [InlineData("99999999999d")]
    [InlineData("")]
    [InlineData("s")]
    public void Bad_ages_are_refused(string text)
    {
        Assert.Throws<FormatException>(() => QueueFilter.ParseAge(text));
    }

    [Theory]
    [InlineData("active,deferred")]
    [InlineData("3")]
    [InlineData("held")]
    [InlineData("")]
    public void Only_the_five_queue_names_are_queues(string name)
    {
        Assert.Throws<FormatException>(() => QueueFilter.ParseQueue(name));
        Assert.Equal(QueueState.Hold, QueueFilter.ParseQueue("HOLD"));
    }
}
