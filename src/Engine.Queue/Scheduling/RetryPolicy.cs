namespace Engine.Queue.Scheduling;

/// <summary>
/// Postfix's retry rules as a pure function: after each temporary failure the wait doubles, from
/// <c>minimal-backoff</c> up to <c>maximal-backoff</c>; a message older than <c>maximal-queue-lifetime</c>
/// (<c>bounce-queue-lifetime</c> for a bounce, whose sender is &lt;&gt;) is returned instead of retried.
/// </summary>
public sealed record RetryPolicy(TimeSpan MinimalBackoff, TimeSpan MaximalBackoff, TimeSpan MaximalQueueLifetime, TimeSpan BounceQueueLifetime)
{
    /// <summary>The wait after the <paramref name="attempts"/>-th failed attempt.</summary>
    public TimeSpan Backoff(int attempts)
    {
        if (attempts <= 1)
            return MinimalBackoff;
        var doublings = Math.Min(attempts - 1, 30);
        var wait = MinimalBackoff.Ticks * (1L << doublings);
        return wait <= 0 || wait > MaximalBackoff.Ticks ? MaximalBackoff : TimeSpan.FromTicks(wait);
    }

    public bool Expired(DateTimeOffset arrivedAt, DateTimeOffset now, bool isBounce) =>
        now - arrivedAt >= (isBounce ? BounceQueueLifetime : MaximalQueueLifetime);
}
