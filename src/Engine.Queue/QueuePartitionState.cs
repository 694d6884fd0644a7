using System.Collections.Immutable;
using Engine.Messages.Queue;
using Engine.Primitives;

namespace Engine.Queue;

/// <summary>
/// What one partition holds, as a pure value: events in, new state out. The actor only persists and applies.
/// </summary>
public sealed record QueuePartitionState(ImmutableDictionary<QueueId, QueuedMessage> Messages)
{
    public static readonly QueuePartitionState Empty = new(ImmutableDictionary<QueueId, QueuedMessage>.Empty);

    public bool Contains(QueueId id) => Messages.ContainsKey(id);

    public QueuePartitionState Apply(QueueEvents.MessageQueued e) =>
        Messages.ContainsKey(e.Id) ? this : new(Messages.Add(e.Id, new QueuedMessage(e.Id, e.Envelope, e.BlobRef, QueueState.Incoming)));

    public QueueSnapshot ToSnapshot() => new(Messages.Values.OrderBy(m => m.Id.Value, StringComparer.Ordinal).ToArray());

    public static QueuePartitionState FromSnapshot(QueueSnapshot snapshot) =>
        new(snapshot.Messages.ToImmutableDictionary(m => m.Id));
}
