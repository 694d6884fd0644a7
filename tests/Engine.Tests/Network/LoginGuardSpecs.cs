using System.Net;
using Engine.Network;

namespace Engine.Tests.Network;

/// <summary>The brute-force guard as a pure state function over a clock.</summary>
public sealed class LoginGuardSpecs
{
    private static readonly IPAddress Guesser = IPAddress.Parse("192.0.2.7");
    private static readonly IPAddress Other = IPAddress.Parse("198.51.100.9");
    private DateTime _now = new(2026, 11, 28, 12, 0, 0, DateTimeKind.Utc);

    private LoginGuard Guard(int addressLimit = 10, int accountLimit = 30) =>
        new(new LoginGuardSettings(TimeSpan.FromHours(1), TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1), addressLimit, accountLimit,
            TimeSpan.FromMinutes(15)), clock: () => _now);

    [Fact]
    public void Each_failure_adds_a_delay_up_to_the_cap_and_the_limit_blocks_the_address_for_the_block_time()
    {
        var guard = Guard();
        Assert.Equal(new LoginVerdict(TimeSpan.Zero, null), guard.Check(Guesser, "jane@campus.test"));
        for (var i = 0; i < 3; i++)
            guard.Failed(Guesser, "jane@campus.test");
        Assert.Equal(TimeSpan.FromMilliseconds(600), guard.Check(Guesser, null).Delay);
        for (var i = 0; i < 7; i++)
            guard.Failed(Guesser, null);
        var verdict = guard.Check(Guesser, null);
        Assert.True(verdict.Blocked);
        Assert.Equal(TimeSpan.FromSeconds(1), verdict.Delay); // capped
        Assert.False(guard.Check(Other, "jane@campus.test").Blocked); // the account had 3 failures only

        _now += TimeSpan.FromMinutes(16);
        Assert.False(guard.Check(Guesser, null).Blocked); // the block is over; the failures are remembered for the window
        Assert.Equal(TimeSpan.FromSeconds(1), guard.Check(Guesser, null).Delay);
        _now += TimeSpan.FromHours(1);
        Assert.Equal(TimeSpan.Zero, guard.Check(Guesser, null).Delay);
    }

    [Fact]
    public void Failures_for_one_account_from_many_addresses_block_the_account_until_a_success_elsewhere_is_no_longer_possible()
    {
        var guard = Guard(addressLimit: 100, accountLimit: 5);
        for (var i = 0; i < 5; i++)
            guard.Failed(IPAddress.Parse($"203.0.113.{i + 1}"), "jane@campus.test");
        Assert.True(guard.Check(Other, "jane@campus.test").Blocked);
        Assert.False(guard.Check(Other, "bob@campus.test").Blocked);
    }

    [Fact]
    public void A_success_forgets_the_accounts_failures_but_not_the_addresss()
    {
        var guard = Guard();
        for (var i = 0; i < 4; i++)
            guard.Failed(Guesser, "jane@campus.test");
        guard.Succeeded("jane@campus.test");
        Assert.Equal(TimeSpan.Zero, guard.Check(Other, "jane@campus.test").Delay);
        Assert.Equal(TimeSpan.FromMilliseconds(800), guard.Check(Guesser, null).Delay);
    }

    [Fact]
    public void Nodes_linked_by_their_exchanges_count_each_others_failures_and_successes()
    {
        var settings = new LoginGuardSettings(TimeSpan.FromHours(1), TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1), 10, 30, TimeSpan.FromMinutes(15));
        CountExchange one = new(), two = new();
        var published = new List<CountChange>();
        one.Outbound = change =>
        {
            published.Add(change);
            two.Receive(change);
        };
        two.Outbound = change => one.Receive(change);
        var first = new LoginGuard(settings, one, () => _now);
        var second = new LoginGuard(settings, two, () => _now);

        for (var i = 0; i < 10; i++)
            first.Failed(Guesser, "jane@campus.test");
        Assert.Equal(new CountChange("login", "ip:192.0.2.7", 1), published[0]);
        Assert.True(second.Check(Guesser, null).Blocked); // the address's limit, reached on the first node
        Assert.Equal(TimeSpan.FromSeconds(1), second.Check(Other, "jane@campus.test").Delay);

        second.Succeeded("jane@campus.test"); // forgets the account's failures on both nodes
        Assert.Equal(TimeSpan.Zero, first.Check(Other, "jane@campus.test").Delay);
        Assert.True(first.Check(Guesser, null).Blocked);
        Assert.False(two.Receive(new CountChange("other", "k", 1)));
        Assert.Throws<InvalidOperationException>(() => new LoginGuard(settings, one));
    }
}
