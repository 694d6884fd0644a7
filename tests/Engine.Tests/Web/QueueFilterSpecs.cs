using Engine.Messages;
using Engine.Messages.Queue;
using Engine.Primitives;
using Engine.Web.Admin;

namespace Engine.Tests.Web;

public sealed class QueueFilterSpecs
{
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    private static QueuedMessage Message(string sender, string recipient, QueueState state, TimeSpan age) =>
        new(QueueId.New(Now - age), new Envelope(sender, [new EnvelopeRecipient(recipient, DsnNotify.Unspecified)], BodyType.SevenBit, false,
            DsnReturn.Unspecified, null, new ClientInfo("192.0.2.1", "unknown", "client.test", "ESMTP"), Now - age, 100), "blob", state);

    [Fact]
    public void A_filter_matches_queue_sender_recipient_domain_and_age_together()
    {
        var m = Message("Jane@Campus.test", "bob@example.net", QueueState.Deferred, TimeSpan.FromHours(3));
        Assert.True(new QueueFilter().Matches(m, Now));
        Assert.True(new QueueFilter(QueueState.Deferred, "jane@campus.test", "@EXAMPLE.net", "example.net", TimeSpan.FromHours(2)).Matches(m, Now));
        Assert.False(new QueueFilter(Queue: QueueState.Hold).Matches(m, Now));
        Assert.False(new QueueFilter(Sender: "jane@campus").Matches(m, Now)); // a whole address, not a prefix
        Assert.True(new QueueFilter(Sender: "@campus.test").Matches(m, Now));
        Assert.False(new QueueFilter(Recipient: "carol@example.net").Matches(m, Now));
        Assert.False(new QueueFilter(Domain: "example.org").Matches(m, Now));
        Assert.False(new QueueFilter(MinAge: TimeSpan.FromHours(4)).Matches(m, Now));
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
    public void Bad_ages_and_queue_names_are_refused(string text)
    {
        Assert.Throws<FormatException>(() => QueueFilter.ParseAge(text));
        Assert.Throws<FormatException>(() => QueueFilter.ParseQueue(text));
        Assert.Throws<FormatException>(() => QueueFilter.ParseQueue("3"));
        Assert.Equal(QueueState.Hold, QueueFilter.ParseQueue("HOLD"));
    }
}
