namespace Engine.Network;

/// <summary>
/// How often something may happen per key in a sliding window (mail per user, connections per client
/// address): <see cref="Take"/> counts one more and says whether it is within the limit. With a
/// <see cref="CountExchange"/>, every node counts what the others count, under the table's name, so the
/// limit is the cluster's. A limit of 0 or less is no limit (nothing is counted).
/// </summary>
public sealed class RateCounter
{
    private readonly string _table;
    private readonly int _limit;
    private readonly SlidingCounts _counts;
    private readonly CountExchange? _exchange;
    private readonly Func<DateTime> _now;

    public RateCounter(string table, TimeSpan window, int limit, CountExchange? exchange = null, Func<DateTime>? clock = null)
    {
        (_table, _limit, _exchange) = (table, limit, exchange);
        _counts = new SlidingCounts(window);
        _now = clock ?? (() => DateTime.UtcNow);
        if (limit > 0)
            exchange?.Register(table, (key, count) => _counts.Add(key, _now(), Math.Clamp(count, 1, 1000)));
    }

    /// <summary>False when <paramref name="key"/> has used up its limit in the window; else true, and it is counted.</summary>
    public bool Take(string key)
    {
        if (_limit <= 0)
            return true;
        var now = _now();
        if (_counts.Count(key, now) >= _limit)
            return false;
        _counts.Add(key, now);
        _exchange?.Publish(_table, key, 1);
        return true;
    }
}
