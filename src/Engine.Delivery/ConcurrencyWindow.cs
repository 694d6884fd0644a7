namespace Engine.Delivery;

/// <summary>
/// Postfix's per-destination concurrency feedback as a pure state: a window that starts at
/// <c>initial</c> (initial_destination_concurrency), grows by 1/window with each session that could be
/// started (positive feedback 1/concurrency, so by one per window's worth of successes) up to
/// <c>limit</c>, and shrinks by 1/window with each that could not (not below 1). After
/// <c>failedCohortLimit</c> pseudo-cohorts (a window's worth) of failures with no success between them
/// the destination is dead (default_destination_concurrency_failed_cohort_limit).
/// </summary>
public sealed class ConcurrencyWindow(int initial, int limit, int failedCohortLimit)
{
    private double _window = Math.Clamp(initial, 1, Math.Max(1, limit));
    private int _failures;

    /// <summary>How many sessions may run at once now.</summary>
    public int Current => Math.Max(1, (int)_window);

    /// <summary>A session was started (connected and greeted).</summary>
    public void Succeeded()
    {
        _failures = 0;
        _window = Math.Min(limit, _window + 1 / _window);
    }

    /// <summary>A session could not be started. True when the destination is now dead.</summary>
    public bool Failed()
    {
        var cohort = Current;
        _failures++;
        _window = Math.Max(1, _window - 1 / _window);
        return _failures >= failedCohortLimit * cohort;
    }

    /// <summary>After a dead period: one session at a time until it proves alive.</summary>
    public void Revive()
    {
        _failures = 0;
        _window = 1;
    }
}
