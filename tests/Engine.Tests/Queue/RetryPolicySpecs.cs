using Engine.Queue.Scheduling;

namespace Engine.Tests.Queue;

public sealed class RetryPolicySpecs
{
    private static readonly RetryPolicy Policy = new(TimeSpan.FromSeconds(300), TimeSpan.FromSeconds(4000), TimeSpan.FromDays(5), TimeSpan.FromDays(1));
    private static readonly DateTimeOffset Arrived = new(2026, 11, 28, 9, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(1, 300)]
    [InlineData(2, 600)]
    [InlineData(3, 1200)]
    [InlineData(4, 2400)]
    [InlineData(5, 4000)]
    [InlineData(50, 4000)]
    public void Backoff_should_double_from_minimal_to_maximal(int attempts, int seconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(seconds), Policy.Backoff(attempts));
    }

    [Fact]
    public void A_message_expires_after_its_lifetime_and_a_bounce_after_the_shorter_one()
    {
        Assert.False(Policy.Expired(Arrived, Arrived.AddDays(5).AddSeconds(-1), isBounce: false));
        Assert.True(Policy.Expired(Arrived, Arrived.AddDays(5), isBounce: false));
        Assert.True(Policy.Expired(Arrived, Arrived.AddDays(2), isBounce: true));
        Assert.False(Policy.Expired(Arrived, Arrived.AddDays(2), isBounce: false));
    }
}
