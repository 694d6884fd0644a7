using System.Collections.Concurrent;

namespace Engine.Network;

/// <summary>
/// Events counted per key over a sliding window (failed logins per address, messages per user): each key keeps
/// the times of its events within the window. Thread-safe; keys whose events have all expired are swept out
/// when the table has grown past <paramref name="sweepAbove"/> keys, at most once a minute (a sweep walks them all).
/// </summary>
public sealed class SlidingCounts(TimeSpan window, int sweepAbove = 100_000)
{
    private readonly ConcurrentDictionary<string, Queue<DateTime>> _events = new(StringComparer.OrdinalIgnoreCase);
    private DateTime _nextSweep;

    /// <summary>The events of <paramref name="key"/> within the window before <paramref name="now"/>.</summary>
    public int Count(string key, DateTime now)
    {
        if (!_events.TryGetValue(key, out var times))
            return 0;
        lock (times)
        {
            Expire(times, now);
            return times.Count;
        }
    }

    /// <summary>Records an event; the count within the window, with it.</summary>
    public int Add(string key, DateTime now, int count = 1)
    {
        var times = _events.GetOrAdd(key, _ => new Queue<DateTime>());
        int total;
        lock (times)
        {
            Expire(times, now);
            for (var i = 0; i < count; i++)
                times.Enqueue(now);
            total = times.Count;
        }
        if (_events.Count > sweepAbove && now >= _nextSweep)
        {
            _nextSweep = now + TimeSpan.FromMinutes(1);
            Sweep(now);
        }
        return total;
    }

    public void Forget(string key) => _events.TryRemove(key, out _);

    private void Expire(Queue<DateTime> times, DateTime now)
    {
        while (times.Count > 0 && times.Peek() <= now - window)
            times.Dequeue();
    }

    private void Sweep(DateTime now)
    {
        foreach (var (key, times) in _events)
        {
            lock (times)
            {
                Expire(times, now);
                if (times.Count == 0)
                    _events.TryRemove(key, out _);
            }
        }
    }
}
