using Engine.Queue.Scheduling;

namespace Engine.Tests.Queue;

public sealed class RetryScheduleSpecs
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
    public void A_temporary_failure_should_defer_with_the_next_attempt_time()
    {
        var now = Arrived.AddMinutes(1);
        var once = Policy.After(RecipientSchedule.New("a@b.example"), AttemptOutcome.Deferred, "451 4.3.0 try later", Arrived, now, isBounce: false);
        Assert.Equal(RecipientStatus.Deferred, once.Status);
        Assert.Equal(1, once.Attempts);
        Assert.Equal(now.AddSeconds(300), once.NextAttemptAt);
        Assert.Equal("451 4.3.0 try later", once.LastError);
        var twice = Policy.After(once, AttemptOutcome.Deferred, "451 again", Arrived, now.AddSeconds(300), isBounce: false);
        Assert.Equal(now.AddSeconds(900), twice.NextAttemptAt);
        Assert.False(twice.IsDone);
    }

    [Fact]
    public void Delivered_and_bounced_recipients_are_done()
    {
        var delivered = Policy.After(RecipientSchedule.New("a@b.example"), AttemptOutcome.Delivered, "250 ok", Arrived, Arrived, false);
        Assert.True(delivered.IsDone);
        Assert.Null(delivered.NextAttemptAt);
        var bounced = Policy.After(RecipientSchedule.New("a@b.example"), AttemptOutcome.Bounced, "550 5.1.1 no such user", Arrived, Arrived, false);
        Assert.Equal(RecipientStatus.Bounced, bounced.Status);
        Assert.Equal("550 5.1.1 no such user", bounced.LastError);
    }

    [Fact]
    public void A_message_past_its_lifetime_bounces_instead_of_deferring()
    {
        var late = Arrived.AddDays(5).AddSeconds(1);
        var expired = Policy.After(RecipientSchedule.New("a@b.example"), AttemptOutcome.Deferred, "451 busy", Arrived, late, isBounce: false);
        Assert.Equal(RecipientStatus.Bounced, expired.Status);
        Assert.Contains("expired", expired.LastError);
        Assert.Contains("451 busy", expired.LastError);
        // A bounce has the shorter bounce-queue-lifetime.
        Assert.True(Policy.Expired(Arrived, Arrived.AddDays(2), isBounce: true));
        Assert.False(Policy.Expired(Arrived, Arrived.AddDays(2), isBounce: false));
    }
}
