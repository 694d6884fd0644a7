using Engine.Delivery.Mx;

namespace Engine.Tests.Delivery;

/// <summary>The order MX hosts are tried in (RFC 5321 section 5.1): by preference, and at random among equals.</summary>
public sealed class MxOrderSpecs
{
    private static readonly (string Name, int Preference)[] Records =
    [
        ("backup.example", 20), ("a.example", 10), ("b.example", 10), ("c.example", 10), ("last.example", 30),
    ];

    [Fact]
    public void Lower_preferences_come_first_and_every_host_comes_once()
    {
        for (var i = 0; i < 50; i++)
        {
            var order = MxResolver.Order(Records);
            Assert.Equal([10, 10, 10, 20, 30], order.Select(r => r.Preference));
            Assert.Equal(["a.example", "b.example", "c.example"], order.Take(3).Select(r => r.Name).Order());
            Assert.Equal(["backup.example", "last.example"], order.Skip(3).Select(r => r.Name));
        }
    }

    [Fact]
    public void Hosts_of_equal_preference_are_shuffled_so_each_comes_first_in_its_share_of_lookups()
    {
        const int lookups = 3000;
        var first = new Dictionary<string, int>();
        for (var i = 0; i < lookups; i++)
        {
            var name = MxResolver.Order(Records)[0].Name;
            first[name] = first.GetValueOrDefault(name) + 1;
        }
        // Each of the three at preference 10 first about a third of the time (1,000 expected; the bounds are over
        // ten standard deviations wide, so a fair shuffle never fails this, and a fixed order always does).
        Assert.Equal(["a.example", "b.example", "c.example"], first.Keys.Order());
        Assert.All(first.Values, count => Assert.InRange(count, 700, 1300));
    }
}
