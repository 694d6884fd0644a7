using Engine.Messages.Greylist;

namespace Engine.Filtering.Greylist;

/// <summary>engine.greylist: Postgrey's --delay, --max-age, --retry-window and --auto-whitelist-clients.</summary>
public sealed record GreylistSettings(TimeSpan Delay, TimeSpan RetryWindow, TimeSpan MaxAge, int AutoAllowAfter, int Buckets)
{
    public static readonly GreylistSettings Default = new(TimeSpan.FromSeconds(300), TimeSpan.FromDays(2), TimeSpan.FromDays(35), 5, 64);
}

/// <summary>
/// One bucket's greylist as a pure state: the triplets it has seen and the client networks whose passes it
/// counts. <see cref="Decide"/> says what a try gets and which event records it; <see cref="Apply"/> is the
/// only thing that changes the state, replaying the journal as well as following new events.
/// </summary>
public sealed class GreylistState(GreylistSettings settings)
{
    private readonly Dictionary<string, GreylistTriplet> _triplets = new(StringComparer.Ordinal);
    private readonly Dictionary<string, GreylistClient> _clients = new(StringComparer.Ordinal);

    public int Triplets => _triplets.Count;

    public static string KeyOf(string network, string sender, string recipient) => $"{network}/{sender.ToLowerInvariant()}/{recipient.ToLowerInvariant()}";

    /// <summary>The answer to a try at <paramref name="now"/>, and the event to persist first (null: nothing to record).</summary>
    public (GreylistReplies.Answer Answer, object? Event) Decide(string key, DateTimeOffset now)
    {
        if (!_triplets.TryGetValue(key, out var triplet) || (triplet.PassedAt is null && now - triplet.FirstSeen > settings.RetryWindow))
            return (new GreylistReplies.Answer(false, Seconds(settings.Delay), "new"), new GreylistEvents.TripletSeen(key, now));
        if (triplet.PassedAt is not null)
        {
            // Kept while used; the last use is written at most once a day (max-age counts in days).
            var record = now - triplet.LastSeen > TimeSpan.FromDays(1) ? new GreylistEvents.TripletPassed(key, now) : null;
            return (new GreylistReplies.Answer(true, 0, "passed"), record);
        }
        var waited = now - triplet.FirstSeen;
        if (waited < settings.Delay)
            return (new GreylistReplies.Answer(false, Seconds(settings.Delay - waited), "early"), null);
        return (new GreylistReplies.Answer(true, 0, "delayed"), new GreylistEvents.TripletPassed(key, now));
    }

    /// <summary>Whether a network passed often enough (and recently enough) to be let through without a triplet.</summary>
    public bool IsAllowed(string network, DateTimeOffset now) =>
        settings.AutoAllowAfter > 0 && _clients.TryGetValue(network, out var client) && client.Passes >= settings.AutoAllowAfter
        && now - client.LastPass <= settings.MaxAge;

    /// <summary>What has not been used for max-age, and triplets never retried within their window; null when nothing.</summary>
    public GreylistEvents.Expired? Expire(DateTimeOffset now)
    {
        var triplets = _triplets.Values.Where(t => now - t.LastSeen > settings.MaxAge || (t.PassedAt is null && now - t.FirstSeen > settings.RetryWindow))
            .Select(t => t.Key).ToArray();
        var networks = _clients.Values.Where(c => now - c.LastPass > settings.MaxAge).Select(c => c.Network).ToArray();
        return triplets.Length + networks.Length == 0 ? null : new GreylistEvents.Expired(triplets, networks);
    }

    public void Apply(object @event)
    {
        switch (@event)
        {
            case GreylistEvents.TripletSeen seen:
                _triplets[seen.Key] = new GreylistTriplet(seen.Key, seen.At, null, seen.At);
                break;
            case GreylistEvents.TripletPassed passed:
                var first = _triplets.TryGetValue(passed.Key, out var known) ? known.FirstSeen : passed.At;
                _triplets[passed.Key] = new GreylistTriplet(passed.Key, first, known?.PassedAt ?? passed.At, passed.At);
                break;
            case GreylistEvents.ClientCounted counted:
                _clients[counted.Network] = new GreylistClient(counted.Network,
                    (_clients.TryGetValue(counted.Network, out var client) ? client.Passes : 0) + 1, counted.At);
                break;
            case GreylistEvents.Expired expired:
                foreach (var key in expired.Triplets)
                    _triplets.Remove(key);
                foreach (var network in expired.Networks)
                    _clients.Remove(network);
                break;
        }
    }

    public GreylistSnapshot ToSnapshot() => new([.. _triplets.Values], [.. _clients.Values]);

    public void Restore(GreylistSnapshot snapshot)
    {
        _triplets.Clear();
        _clients.Clear();
        foreach (var triplet in snapshot.Triplets)
            _triplets[triplet.Key] = triplet;
        foreach (var client in snapshot.Clients)
            _clients[client.Network] = client;
    }

    private static int Seconds(TimeSpan span) => (int)Math.Ceiling(Math.Max(0, span.TotalSeconds));
}
