using Akka.Actor;
using Engine.Messages.Queue;
using Engine.Storage.Blobs;
using Microsoft.Extensions.Logging;

namespace Engine.Queue;

/// <summary>
/// Every <c>engine.queue.spool-sweep-interval</c>, deletes the bodies in the spool that no queued message refers to:
/// those a crash left between a body's commit and its queue entry, or a queue write that failed. Each body older than
/// <c>spool-sweep-min-age</c> (so no enqueue can still be on its way) is asked about at its queue id's partition, in one
/// question per partition; only the bodies no partition answers for are deleted, and a partition that does not answer
/// in time keeps all of its bodies until the next sweep. One per node with the queue role; on a shared spool the
/// nodes' sweeps overlap harmlessly (a body deleted twice is deleted once).
/// </summary>
public sealed class SpoolSweep : ReceiveActor, IWithTimers
{
    public const string Name = "spool-sweep";
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(30);

    private sealed record Sweep;

    private sealed record Swept(IReadOnlyList<SpooledBody> Deleted, string? Failure);

    private readonly TimeSpan _interval;

    public SpoolSweep(ISweptBlobStore store, IBlobStore blobs, IActorRef queue, int partitions, TimeSpan interval, TimeSpan minAge, ILogger log)
    {
        _interval = interval;
        var running = false;
        Receive<Sweep>(_ =>
        {
            if (running)
                return;
            running = true;
            RunAsync(store, blobs, queue, partitions, minAge).PipeTo(Self, success: r => r, failure: e => new Swept([], e.GetBaseException().Message));
        });
        Receive<Swept>(swept =>
        {
            running = false;
            foreach (var body in swept.Deleted)
                QueueLog.Swept(log, body.Id.Value, body.BlobRef);
            if (swept.Failure is { } failure)
                QueueLog.SweepFailed(log, failure);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart() => Timers.StartPeriodicTimer("sweep", new Sweep(), _interval);

    public static Props Props(ISweptBlobStore store, IBlobStore blobs, IActorRef queue, int partitions, TimeSpan interval, TimeSpan minAge, ILogger log) =>
        Akka.Actor.Props.Create(() => new SpoolSweep(store, blobs, queue, partitions, interval, minAge, log));

    private static async Task<Swept> RunAsync(ISweptBlobStore store, IBlobStore blobs, IActorRef queue, int partitions, TimeSpan minAge)
    {
        var bodies = await Task.Run(() => store.Bodies(DateTimeOffset.UtcNow - minAge)).ConfigureAwait(false);
        var deleted = new List<SpooledBody>();
        string? failure = null;
        foreach (var group in bodies.Select(b => new SpooledBody(b.Id, b.Ref)).GroupBy(b => b.Id.Partition(partitions)))
        {
            QueueReplies.BodiesInUse inUse;
            try
            {
                inUse = await queue.Ask<QueueReplies.BodiesInUse>(new QueueCommands.FindBodies(group.Key, group.ToArray()), AskTimeout).ConfigureAwait(false);
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
            {
                failure = $"partition {group.Key} did not answer; its bodies wait for the next sweep";
                continue;
            }
            var used = inUse.Bodies.Select(b => b.BlobRef).ToHashSet(StringComparer.Ordinal);
            foreach (var body in group.Where(b => !used.Contains(b.BlobRef)))
            {
                blobs.Delete(body.BlobRef);
                deleted.Add(body);
            }
        }
        return new Swept(deleted, failure);
    }
}
