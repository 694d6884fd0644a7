using Engine.Delivery;

namespace Engine.Tests.Delivery;

public sealed class ConcurrencyWindowSpecs
{
    [Fact]
    public void The_window_starts_at_the_initial_concurrency_and_grows_by_one_per_windows_worth_of_successes()
    {
        var window = new ConcurrencyWindow(5, 20, 1);
        Assert.Equal(5, window.Current);
        for (var i = 0; i < 5; i++)
            window.Succeeded();
        Assert.Equal(5, window.Current); // 5 + 5 × (about 1/5) is just under 6
        window.Succeeded();
        Assert.Equal(6, window.Current);
        for (var i = 0; i < 1000; i++)
            window.Succeeded();
        Assert.Equal(20, window.Current); // never past the limit
    }

    [Fact]
    public void A_cohort_of_failures_with_no_success_between_makes_the_destination_dead()
    {
        var window = new ConcurrencyWindow(5, 20, 1);
        Assert.False(window.Failed());
        Assert.False(window.Failed());
        Assert.False(window.Failed());
        Assert.True(window.Failed()); // four failures once the window has shrunk to 4
        Assert.Equal(4, window.Current);
    }

    [Fact]
    public void A_success_between_failures_starts_the_count_again_and_revive_starts_from_one()
    {
        var window = new ConcurrencyWindow(2, 20, 2);
        Assert.False(window.Failed()); // one failure; two cohorts of 2 would be four
        window.Succeeded(); // the count starts again
        Assert.False(window.Failed());
        Assert.True(window.Failed()); // two failures: two cohorts of the window, now 1
        window.Revive();
        Assert.Equal(1, window.Current);
        Assert.False(window.Failed());
    }
}
