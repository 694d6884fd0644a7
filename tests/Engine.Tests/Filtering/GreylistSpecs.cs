using System.Net;
using Engine.Filtering.Greylist;
using Engine.Messages.Greylist;
using Engine.Primitives;

namespace Engine.Tests.Filtering;

/// <summary>Greylisting as a pure state over a clock: Postgrey's delay, retry window, max-age and auto-allow.</summary>
public sealed class GreylistSpecs
{
    private static readonly GreylistSettings Settings = new(TimeSpan.FromSeconds(300), TimeSpan.FromDays(2), TimeSpan.FromDays(35), 2, 8);
    private readonly GreylistState _state = new(Settings);
    private DateTimeOffset _now = new(2026, 11, 28, 9, 0, 0, TimeSpan.Zero);

    private GreylistReplies.Answer Try(string key)
    {
        var (answer, recorded) = _state.Decide(key, _now);
        if (recorded is not null)
            _state.Apply(recorded);
        return answer;
    }

    [Fact]
    public void A_new_triplet_waits_the_delay_then_passes_from_then_on()
    {
        var key = GreylistState.KeyOf("192.0.2", "A@Client.test", "jane@campus.test");
        Assert.Equal(new GreylistReplies.Answer(false, 300, "new"), Try(key));
        _now += TimeSpan.FromSeconds(100);
        Assert.Equal(new GreylistReplies.Answer(false, 200, "early"), Try(key));
        _now += TimeSpan.FromSeconds(200);
        Assert.Equal(new GreylistReplies.Answer(true, 0, "delayed"), Try(key));
        _now += TimeSpan.FromDays(20);
        Assert.True(Try(GreylistState.KeyOf("192.0.2", "a@client.test", "JANE@campus.test")).Pass); // keys ignore case
        Assert.Null(_state.Expire(_now));
        _now += TimeSpan.FromDays(36);
        Assert.Equal([key], _state.Expire(_now)!.Triplets);
    }

    [Fact]
    public void A_triplet_retried_after_its_window_starts_over_and_an_unretried_one_expires()
    {
        var key = GreylistState.KeyOf("192.0.2", "a@client.test", "jane@campus.test");
        Try(key);
        _now += TimeSpan.FromDays(3);
        Assert.Equal("new", Try(key).Why);
        _now += TimeSpan.FromDays(3);
        var expired = _state.Expire(_now)!;
        _state.Apply(expired);
        Assert.Equal(0, _state.Triplets);
    }

    [Fact]
    public void A_passed_triplet_is_written_again_at_most_once_a_day()
    {
        var key = GreylistState.KeyOf("192.0.2", "a@client.test", "jane@campus.test");
        Try(key);
        _now += TimeSpan.FromMinutes(5);
        Try(key);
        _now += TimeSpan.FromHours(1);
        Assert.Null(_state.Decide(key, _now).Event);
        _now += TimeSpan.FromDays(1);
        Assert.IsType<GreylistEvents.TripletPassed>(_state.Decide(key, _now).Event);
    }

    [Fact]
    public void A_network_is_allowed_after_enough_passes_and_the_state_survives_a_snapshot()
    {
        Assert.False(_state.IsAllowed("192.0.2", _now));
        _state.Apply(new GreylistEvents.ClientCounted("192.0.2", _now));
        Assert.False(_state.IsAllowed("192.0.2", _now));
        _state.Apply(new GreylistEvents.ClientCounted("192.0.2", _now));
        Assert.True(_state.IsAllowed("192.0.2", _now));
        Try(GreylistState.KeyOf("192.0.2", "a@client.test", "jane@campus.test"));
        var restored = new GreylistState(Settings);
        restored.Restore(_state.ToSnapshot());
        Assert.True(restored.IsAllowed("192.0.2", _now));
        Assert.Equal("early", restored.Decide(GreylistState.KeyOf("192.0.2", "a@client.test", "jane@campus.test"), _now).Answer.Why);
        Assert.False(restored.IsAllowed("192.0.2", _now + TimeSpan.FromDays(36)));
    }

    [Fact]
    public void Networks_are_a_slash_24_or_a_slash_64()
    {
        Assert.Equal("192.0.2", CheckGreylist.NetworkOf(IPAddress.Parse("192.0.2.77")));
        Assert.Equal("192.0.2", CheckGreylist.NetworkOf(IPAddress.Parse("::ffff:192.0.2.77")));
        Assert.Equal("2001:db8:0:12", CheckGreylist.NetworkOf(IPAddress.Parse("2001:db8:0:12:aaaa::1")));
    }

    [Fact]
    public void Allow_lists_read_postgreys_format()
    {
        var clients = GreylistAllowList.Parse(["# big senders", "google.com", "192.0.2.0/24", "198.51.100.7", "/^mail\\d+\\.example\\.org$/"], "test");
        Assert.True(clients.AllowsClient(IPAddress.Parse("203.0.113.1"), "mail-sor-f41.google.com"));
        Assert.False(clients.AllowsClient(IPAddress.Parse("203.0.113.1"), "notgoogle.com"));
        Assert.True(clients.AllowsClient(IPAddress.Parse("192.0.2.9"), "unknown"));
        Assert.True(clients.AllowsClient(IPAddress.Parse("198.51.100.7"), "unknown"));
        Assert.True(clients.AllowsClient(IPAddress.Parse("203.0.113.1"), "mail12.example.org"));
        Assert.False(clients.AllowsClient(IPAddress.Parse("203.0.113.1"), "unknown"));
        Assert.True(clients.HasNames);

        var recipients = GreylistAllowList.Parse(["postmaster@", "sales@campus.test", "open.test"], "test");
        Assert.True(recipients.AllowsRecipient(new EmailAddress("Postmaster", "anywhere.test")));
        Assert.True(recipients.AllowsRecipient(new EmailAddress("sales", "campus.test")));
        Assert.False(recipients.AllowsRecipient(new EmailAddress("jane", "campus.test")));
        Assert.True(recipients.AllowsRecipient(new EmailAddress("x", "dept.open.test")));
        Assert.Throws<FormatException>(() => GreylistAllowList.Parse(["/(/"], "test"));
    }
}
