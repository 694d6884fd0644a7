namespace Engine.Queue.Scheduling;

/// <summary>What happens to a recipient after a delivery attempt.</summary>
public enum AttemptOutcome { Delivered, Deferred, Bounced }

/// <summary>The state of one recipient of a queued message (Postfix keeps it in the queue file's records).</summary>
public enum RecipientStatus { Pending, Delivered, Deferred, Bounced }

/// <summary>One recipient's schedule: attempts made, when to try next, and why the last attempt failed.</summary>
public sealed record RecipientSchedule(string Address, RecipientStatus Status, int Attempts, DateTimeOffset? NextAttemptAt, string? LastError)
{
    public static RecipientSchedule New(string address) => new(address, RecipientStatus.Pending, 0, null, null);

    public bool IsDone => Status is RecipientStatus.Delivered or RecipientStatus.Bounced;
}

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

    /// <summary>
    /// The recipient after an attempt: delivered; bounced on a permanent failure; deferred with the next
    /// attempt time on a temporary one, or bounced when the message has outlived its lifetime.
    /// </summary>
    public RecipientSchedule After(RecipientSchedule recipient, AttemptOutcome outcome, string? reply, DateTimeOffset arrivedAt,
        DateTimeOffset now, bool isBounce)
    {
        var attempts = recipient.Attempts + 1;
        return outcome switch
        {
            AttemptOutcome.Delivered => recipient with { Status = RecipientStatus.Delivered, Attempts = attempts, NextAttemptAt = null, LastError = null },
            AttemptOutcome.Bounced => recipient with { Status = RecipientStatus.Bounced, Attempts = attempts, NextAttemptAt = null, LastError = reply },
            _ when Expired(arrivedAt, now, isBounce) => recipient with
            {
                Status = RecipientStatus.Bounced,
                Attempts = attempts,
                NextAttemptAt = null,
                LastError = $"message expired after {(now - arrivedAt).TotalDays:0.#} days in the queue; last error: {reply}",
            },
            _ => recipient with { Status = RecipientStatus.Deferred, Attempts = attempts, NextAttemptAt = now + Backoff(attempts), LastError = reply },
        };
    }
}
