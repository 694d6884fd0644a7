using Engine.Primitives;

namespace Engine.Messages.Queue;

/// <summary>A message addressed to one queue partition; the shard extractor reads the partition.</summary>
public interface IQueuePartitionMessage : IEngineMessage
{
    int Partition { get; }
}

/// <summary>The queue states of Postfix: incoming, active, deferred, hold, corrupt.</summary>
public enum QueueState { Incoming, Active, Deferred, Hold, Corrupt }

/// <summary>
/// A message as a partition holds it: the body stays in the blob store, named by <paramref name="BlobRef"/>.
/// <paramref name="Delivered"/> lists the mailboxes (accounts) it has reached, as Postfix marks done
/// recipients in the queue file instead of removing them.
/// </summary>
public sealed record QueuedMessage(QueueId Id, Envelope Envelope, string BlobRef, QueueState State,
    IReadOnlyList<string>? Delivered = null, IReadOnlyList<string>? Bounced = null,
    IReadOnlyDictionary<string, string>? BounceReplies = null, IReadOnlyList<string>? Notified = null) : IEngineMessage
{
    /// <summary>Why each bounced target failed (the reply, for the DSN).</summary>
    public IReadOnlyDictionary<string, string> BounceReplyOf => BounceReplies ?? new Dictionary<string, string>();

    /// <summary>Bounced targets whose DSN has been queued.</summary>
    public IReadOnlyList<string> NotifiedOf => Notified ?? [];

    /// <summary>Local accounts and remote addresses the message has reached.</summary>
    public IReadOnlyList<string> DeliveredTo => Delivered ?? [];

    /// <summary>Targets that failed for good (5xx, error transport, or expired).</summary>
    public IReadOnlyList<string> BouncedTo => Bounced ?? [];
}

public static class QueueCommands
{
    /// <summary>Put a message whose body is already on stable storage into the incoming queue.</summary>
    public sealed record Enqueue(int Partition, QueueId Id, Envelope Envelope, string BlobRef) : IQueuePartitionMessage;

    /// <summary>List what a partition holds (the operators' mailq, and tests).</summary>
    public sealed record GetMessages(int Partition) : IQueuePartitionMessage;
}

public static class QueueReplies
{
    /// <summary>The message is in the journal: the session may answer 250.</summary>
    public sealed record Queued(QueueId Id) : IEngineMessage;

    /// <summary>The journal refused the write: the session answers 451.</summary>
    public sealed record NotQueued(QueueId Id, string Reason) : IEngineMessage;

    public sealed record MessagesResult(int Partition, IReadOnlyList<QueuedMessage> Messages) : IEngineMessage;
}

public static class QueueEvents
{
    /// <summary>A message entered the incoming queue (the first record of Postfix's queue file).</summary>
    public sealed record MessageQueued(QueueId Id, Envelope Envelope, string BlobRef, DateTimeOffset At) : IEngineMessage;

    /// <summary>The message reached <paramref name="Account"/>: a local mailbox (with its UID) or a remote address (UID 0).</summary>
    public sealed record RecipientDelivered(QueueId Id, string Account, long Uid, DateTimeOffset At) : IEngineMessage;

    /// <summary>The message cannot reach <paramref name="Target"/>; <paramref name="Reply"/> says why (for the DSN).</summary>
    public sealed record RecipientBounced(QueueId Id, string Target, string Reply, DateTimeOffset At) : IEngineMessage;

    /// <summary>A DSN for these bounced targets is in the queue (as message <paramref name="Dsn"/>).</summary>
    public sealed record BounceQueued(QueueId Id, IReadOnlyList<string> Targets, QueueId Dsn, DateTimeOffset At) : IEngineMessage;

    /// <summary>Every recipient is done: the message leaves the queue and its body the spool.</summary>
    public sealed record MessageRemoved(QueueId Id, DateTimeOffset At) : IEngineMessage;
}

/// <summary>A partition's whole state, so recovery reads a snapshot and the events after it.</summary>
public sealed record QueueSnapshot(IReadOnlyList<QueuedMessage> Messages) : IEngineMessage;

/// <summary>The key of the queue partitions' shard region in the host's actor registry.</summary>
public sealed class QueueRegionKey;
