using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Engine.Messages.Queue;

namespace Engine.Queue;

/// <summary>
/// The queue's measurements: messages per queue state on this node's partitions (read from their states when
/// scraped), delivery outcomes and latency per destination (the recipient's domain, or "local"), and how long
/// the journal takes to write a batch.
/// </summary>
public static class QueueMetrics
{
    public const string MeterName = "Engine.Queue";

    private static readonly Meter Meter = new(MeterName);

    /// <summary>Each partition running on this node, with what it holds and how many messages it has in delivery.</summary>
    private static readonly ConcurrentDictionary<int, Func<(QueuePartitionState State, int Active)>> Partitions = new();

    private static readonly Counter<long> Outcomes = Meter.CreateCounter<long>("engine.delivery.recipients", "{recipient}",
        "Delivery attempts by destination (the recipient's domain, or local) and status (sent, deferred, bounced)");

    /// <summary>Bucket edges in seconds, from a millisecond (a journal write) to ten minutes (a slow remote DATA).</summary>
    private static readonly InstrumentAdvice<double> Seconds = new()
    {
        HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
    };

    private static readonly Histogram<double> Duration = Meter.CreateHistogram("engine.delivery.duration", "s",
        "From handing a recipient to its destination or mailbox to the answer, by destination", tags: null, advice: Seconds);

    private static readonly Histogram<double> JournalWrite = Meter.CreateHistogram("engine.persistence.write.duration", "s",
        "How long a batch of queue events takes to reach the journal", tags: null, advice: Seconds);

    static QueueMetrics()
    {
        Meter.CreateObservableGauge("engine.queue.messages", Sizes, "{message}",
            "Messages in this node's queue partitions by state (incoming and deferred include those in delivery, counted as active too)");
    }

    internal static void Running(int partition, Func<(QueuePartitionState State, int Active)> state) => Partitions[partition] = state;

    internal static void Stopped(int partition) => Partitions.TryRemove(partition, out _);

    internal static void Outcome(string recipient, string status, TimeSpan? took, bool local = false)
    {
        var destination = local ? "local" : recipient[(recipient.LastIndexOf('@') + 1)..].ToLowerInvariant();
        Outcomes.Add(1, new("destination", destination), new("status", status));
        if (took is { } t)
            Duration.Record(t.TotalSeconds, new KeyValuePair<string, object?>("destination", destination));
    }

    internal static void Written(TimeSpan took) => JournalWrite.Record(took.TotalSeconds, new KeyValuePair<string, object?>("entity", "queue-partition"));

    private static IEnumerable<Measurement<long>> Sizes()
    {
        var counts = new long[Enum.GetValues<QueueState>().Length];
        long active = 0;
        foreach (var partition in Partitions.Values)
        {
            var (state, inDelivery) = partition();
            foreach (var message in state.Messages.Values)
                counts[(int)message.State]++;
            active += inDelivery;
        }
        foreach (var queue in Enum.GetValues<QueueState>())
        {
            var value = queue == QueueState.Active ? active : counts[(int)queue];
            yield return new Measurement<long>(value, new KeyValuePair<string, object?>("queue", queue.ToString().ToLowerInvariant()));
        }
    }
}
