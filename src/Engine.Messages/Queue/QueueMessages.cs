using System.Text.Json.Serialization;
using Engine.Primitives;

namespace Engine.Messages.Queue;

/// <summary>A message addressed to one queue partition; the shard extractor reads the partition.</summary>
public interface IQueuePartitionMessage : IEngineMessage
{
    int Partition { get; }
}

/// <summary>The queue states of Postfix: incoming, active, deferred, hold, corrupt.</summary>
public enum QueueState { Incoming, Active, Deferred, Hold, Corrupt }

/// <summary>A target's temporary failures so far: how many attempts failed, and the last reply.</summary>
public sealed record Deferral(int Attempts, string Reply);

/// <summary>
/// A message as a partition holds it: the body stays in the blob store, named by <paramref name="BlobRef"/>.
/// <paramref name="Delivered"/> lists the mailboxes (accounts) it has reached, as Postfix marks done
/// recipients in the queue file instead of removing them. A deferred message has its next attempt time
/// and each deferred target's attempts and last reply; a held or corrupt one the reason it was set aside.
/// </summary>
public sealed record QueuedMessage(QueueId Id, Envelope Envelope, string BlobRef, QueueState State,
    IReadOnlyList<string>? Delivered = null, IReadOnlyList<string>? Bounced = null,
    IReadOnlyDictionary<string, string>? BounceReplies = null, IReadOnlyList<string>? Notified = null,
    IReadOnlyDictionary<string, Deferral>? Deferrals = null, DateTimeOffset? NextAttemptAt = null, bool DelayWarned = false,
    string? Reason = null, IReadOnlyDictionary<string, string>? Successes = null, IReadOnlyList<string>? Reported = null) : IEngineMessage
{
    /// <summary>The temporary failures of each target not yet delivered or bounced.</summary>
    [JsonIgnore]
    public IReadOnlyDictionary<string, Deferral> DeferralOf => Deferrals ?? new Dictionary<string, Deferral>();

    /// <summary>The most attempts any target has failed (0 for a message never deferred).</summary>
    [JsonIgnore]
    public int Attempts => Deferrals is { Count: > 0 } d ? d.Values.Max(x => x.Attempts) : 0;

    /// <summary>Why each bounced target failed (the reply, for the DSN).</summary>
    [JsonIgnore]
    public IReadOnlyDictionary<string, string> BounceReplyOf => BounceReplies ?? new Dictionary<string, string>();

    /// <summary>Bounced targets whose DSN has been queued.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> NotifiedOf => Notified ?? [];

    /// <summary>Local accounts and remote addresses the message has reached.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> DeliveredTo => Delivered ?? [];

    /// <summary>Targets that failed for good (5xx, error transport, or expired).</summary>
    [JsonIgnore]
    public IReadOnlyList<string> BouncedTo => Bounced ?? [];

    /// <summary>Targets reached that are owed a success DSN, with its action ("delivered", "relayed").</summary>
    [JsonIgnore]
    public IReadOnlyDictionary<string, string> SuccessOf => Successes ?? new Dictionary<string, string>();

    /// <summary>Targets and expanded recipients whose success DSN has been queued.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> ReportedOf => Reported ?? [];
}

/// <summary>
/// Which messages an operator means: a queue (active is the state a message with a delivery under way is shown
/// in), a sender or a recipient (a whole address, or "@domain" for any address there; recipients as sent and
/// as reached through aliases), a recipient domain, arrival before a time. Unset parts match everything.
/// </summary>
public sealed record QueueQuery(QueueState? State = null, string? Sender = null, string? Recipient = null, string? Domain = null,
    DateTimeOffset? ArrivedBefore = null, QueueId? Id = null)
{
    /// <param name="shownState">The state the operator sees (active for a message being delivered).</param>
    public bool Matches(QueuedMessage message, QueueState shownState) =>
        (Id is not { } id || message.Id == id)
        && (State is not { } state || shownState == state)
        && (Sender is not { } sender || Address(message.Envelope.Sender, sender))
        && (Recipient is not { } recipient || Recipients(message).Any(r => Address(r, recipient)))
        && (Domain is not { } domain || Recipients(message).Any(r => Address(r, "@" + domain.TrimStart('@'))))
        && (ArrivedBefore is not { } before || message.Envelope.ArrivedAt <= before);

    private static IEnumerable<string> Recipients(QueuedMessage m) =>
        m.Envelope.Recipients.Select(r => r.Address).Concat(m.DeliveredTo).Concat(m.BouncedTo).Concat(m.DeferralOf.Keys);

    private static bool Address(string address, string wanted) =>
        wanted.StartsWith('@')
            ? address.EndsWith(wanted, StringComparison.OrdinalIgnoreCase)
            : address.Equals(wanted, StringComparison.OrdinalIgnoreCase);
}

public static class QueueCommands
{
    /// <summary>Put a message whose body is already on stable storage into the incoming queue.</summary>
    public sealed record Enqueue(int Partition, QueueId Id, Envelope Envelope, string BlobRef, string? Hold = null) : IQueuePartitionMessage;

    /// <summary>
    /// List what a partition holds (the operators' mailq, and tests): the messages <paramref name="Query"/> matches (all
    /// without one), in order of arrival, <paramref name="Limit"/> of them from <paramref name="Offset"/>, so that
    /// an answer crossing the network stays small.
    /// </summary>
    public sealed record GetMessages(int Partition, QueueQuery? Query = null, int Offset = 0, int Limit = int.MaxValue) : IQueuePartitionMessage;

    /// <summary>Set a message aside until it is released (Postfix's postsuper -h).</summary>
    public sealed record Hold(int Partition, QueueId Id, string Reason) : IQueuePartitionMessage;

    /// <summary>Put a held message back into the queue and try it at once (postsuper -H).</summary>
    public sealed record Release(int Partition, QueueId Id) : IQueuePartitionMessage;

    /// <summary>
    /// Try deferred messages now: every one of the partition (postqueue -f), the one named by <paramref name="Id"/>
    /// (postqueue -i), or those with a recipient at <paramref name="Site"/> (postqueue -s).
    /// </summary>
    public sealed record Flush(int Partition, QueueId? Id = null, string? Site = null) : IQueuePartitionMessage;

    /// <summary>Remove a message from whatever queue holds it, its body too (postsuper -d).</summary>
    public sealed record Delete(int Partition, QueueId Id) : IQueuePartitionMessage;

    /// <summary>
    /// Put a message back into the incoming queue with its failures forgotten, released if held, and try it
    /// now; its recipients are resolved again through the directory (postsuper -r).
    /// </summary>
    public sealed record Requeue(int Partition, QueueId Id) : IQueuePartitionMessage;

    /// <summary>
    /// Which of these bodies (queue id and blob reference, as the spool's records name them) the partition's messages
    /// still use: the spool sweep's question before it deletes a body no message refers to.
    /// </summary>
    public sealed record FindBodies(int Partition, IReadOnlyList<SpooledBody> Bodies) : IQueuePartitionMessage;
}

/// <summary>A body in the spool and the queue id it was written for.</summary>
public sealed record SpooledBody(QueueId Id, string BlobRef) : IEngineMessage;

public static class QueueReplies
{
    /// <summary>The message is in the journal: the session may answer 250.</summary>
    public sealed record Queued(QueueId Id) : IEngineMessage;

    /// <summary>The journal refused the write: the session answers 451.</summary>
    public sealed record NotQueued(QueueId Id, string Reason) : IEngineMessage;

    /// <summary>A page of a partition's messages; <paramref name="Total"/> is how many match in all.</summary>
    public sealed record MessagesResult(int Partition, IReadOnlyList<QueuedMessage> Messages, int Total = 0) : IEngineMessage;

    /// <summary>The answer to hold, release and flush: how many messages it changed.</summary>
    public sealed record Changed(int Partition, int Count) : IEngineMessage;

    /// <summary>The answer to <see cref="QueueCommands.FindBodies"/>: the bodies a message of the partition uses.</summary>
    public sealed record BodiesInUse(int Partition, IReadOnlyList<SpooledBody> Bodies) : IEngineMessage;
}

public static class QueueEvents
{
    /// <summary>A message entered the incoming queue (the first record of Postfix's queue file).</summary>
    public sealed record MessageQueued(QueueId Id, Envelope Envelope, string BlobRef, DateTimeOffset At, string? Hold = null) : IEngineMessage;

    /// <summary>
    /// The message reached <paramref name="Account"/>: a local mailbox (with its UID) or a remote address (UID 0).
    /// <paramref name="Notice"/> is the success DSN's action owed to a recipient whose NOTIFY asked for SUCCESS
    /// ("delivered", or "relayed" to a next hop that does not offer DSN), null when none is.
    /// </summary>
    public sealed record RecipientDelivered(QueueId Id, string Account, long Uid, DateTimeOffset At, string? Notice = null) : IEngineMessage;

    /// <summary>The message cannot reach <paramref name="Target"/>; <paramref name="Reply"/> says why (for the DSN).</summary>
    public sealed record RecipientBounced(QueueId Id, string Target, string Reply, DateTimeOffset At) : IEngineMessage;

    /// <summary>A DSN for these bounced targets is in the queue (as message <paramref name="Dsn"/>).</summary>
    public sealed record BounceQueued(QueueId Id, IReadOnlyList<string> Targets, QueueId Dsn, DateTimeOffset At) : IEngineMessage;

    /// <summary>
    /// A success DSN for these (targets delivered or relayed, recipients expanded by an alias) is in the queue as
    /// message <paramref name="Dsn"/>.
    /// </summary>
    public sealed record SuccessReported(QueueId Id, IReadOnlyList<string> Reported, QueueId Dsn, DateTimeOffset At) : IEngineMessage;

    /// <summary>
    /// An attempt failed for these targets for now (target → reply); the message waits in the deferred
    /// queue until <paramref name="NextAttemptAt"/>.
    /// </summary>
    public sealed record MessageDeferred(QueueId Id, IReadOnlyDictionary<string, string> Replies, DateTimeOffset NextAttemptAt, DateTimeOffset At)
        : IEngineMessage;

    /// <summary>A "delayed" DSN (delay-warning-time) is in the queue as message <paramref name="Dsn"/>.</summary>
    public sealed record DelayWarned(QueueId Id, QueueId Dsn, DateTimeOffset At) : IEngineMessage;

    /// <summary>An operator set the message aside (hold queue).</summary>
    public sealed record MessageHeld(QueueId Id, string Reason, DateTimeOffset At) : IEngineMessage;

    /// <summary>An operator released a held message.</summary>
    public sealed record MessageReleased(QueueId Id, DateTimeOffset At) : IEngineMessage;

    /// <summary>An operator requeued the message: back to incoming, attempts and last replies forgotten.</summary>
    public sealed record MessageRequeued(QueueId Id, DateTimeOffset At) : IEngineMessage;

    /// <summary>The message cannot be read (its body is gone or unreadable): it waits in the corrupt queue.</summary>
    public sealed record MessageCorrupt(QueueId Id, string Reason, DateTimeOffset At) : IEngineMessage;

    /// <summary>Every recipient is done: the message leaves the queue and its body the spool.</summary>
    public sealed record MessageRemoved(QueueId Id, DateTimeOffset At) : IEngineMessage;
}

/// <summary>
/// What the serializer gives for a queue event (manifest "qe.*") that it cannot decode (a damaged journal row): the
/// manifest, why, and the record's text as far as it is UTF-8, so that recovery can skip it instead of failing the
/// partition. Never written: it is not an <see cref="IEngineMessage"/>.
/// </summary>
public sealed record UnreadableEvent(string Manifest, string Reason, string Text)
{
    /// <summary>The string value of a top-level JSON field as it appears in the damaged text ("Id", "BlobRef"), or null.</summary>
    public static string? Field(string text, string name) =>
        System.Text.RegularExpressions.Regex.Match(text, $"\"{name}\"\\s*:\\s*\"([^\"\\\\]+)\"") is { Success: true } m ? m.Groups[1].Value : null;
}

/// <summary>A partition's whole state, so recovery reads a snapshot and the events after it.</summary>
/// <param name="Done">The latest messages that left the partition, so that a late repeat of one is not queued again.</param>
public sealed record QueueSnapshot(IReadOnlyList<QueuedMessage> Messages, IReadOnlyList<QueueId>? Done = null) : IEngineMessage;

/// <summary>The key of the queue partitions' shard region in the host's actor registry.</summary>
public sealed class QueueRegionKey;
