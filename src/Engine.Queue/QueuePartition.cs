using System.Globalization;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using Akka.Persistence;
using Engine.Messages;
using Engine.Messages.Delivery;
using Engine.Messages.Mailbox;
using Engine.Messages.Queue;
using Engine.Primitives;
using Engine.Queue.Bounces;
using Engine.Queue.Routing;
using Engine.Storage.Accounts;
using Engine.Storage.Blobs;
using Engine.Storage.Sql;
using Microsoft.Extensions.Logging;
using Envelope = Engine.Messages.Envelope;

namespace Engine.Queue;

/// <summary>
/// One partition of the queue (Postfix's cleanup and qmgr for the ids that hash to it): a sharded,
/// persistent entity. Enqueue requests that arrive while a write is under way wait and then go to the
/// journal together, in one <c>PersistAllAsync</c>: many sessions share one transaction and one fsync
/// (group commit). Each session hears "queued" only after its event is in the journal.
/// Once written (and after a restart), a message is handed to the mailbox entity of every local account
/// it is for; each "delivered" is journaled, and when every recipient is done the message is removed
/// and its body deleted. A target that fails for now is journaled as deferred with its reply; the message
/// waits in the deferred queue until its next attempt (the timer is set again from the journal after a
/// restart), and past <c>maximal-queue-lifetime</c> it is returned to the sender. Operators hold, release and
/// flush messages; a message whose body cannot be read goes to the corrupt queue.
/// </summary>
public sealed class QueuePartition : UntypedPersistentActor, IWithTimers
{
    private sealed record BatchWritten
    {
        public static readonly BatchWritten Instance = new();
    }

    private sealed record DispatchAll
    {
        public static readonly DispatchAll Instance = new();
    }

    private sealed record Retry(QueueId Id);

    /// <summary>After a member was removed: the unanswered sends are made again (see <see cref="OnMemberRemoved"/>).</summary>
    private sealed record ResendUnanswered(Address Gone);

    private sealed record SweepInFlight
    {
        public static readonly SweepInFlight Instance = new();
    }

    private sealed record BounceReady(QueueId Original, DsnKind Kind, IReadOnlyList<string> Targets, QueueId Id, Envelope Envelope, string BlobRef);

    private sealed record BounceFailed(QueueId Original, string Reason);

    /// <summary>A batch of new messages is on disk (<see cref="JournalSync"/>), or could not be made so: now they are answered.</summary>
    private sealed record BatchDurable(List<(QueueId Id, IActorRef ReplyTo)> Written, long Started, Exception? Failure);

    /// <summary>No write came for the waiting removals in time: they are written alone.</summary>
    private sealed record WriteRemovals
    {
        public static readonly WriteRemovals Instance = new();
    }

    /// <summary>The removals of these messages are on disk: their bodies can go.</summary>
    private sealed record BodiesRemovable(List<string> BlobRefs, Exception? Failure);

    private readonly QueueSettings _settings;
    private readonly IActorRef _mailboxes;
    private readonly IActorRef _destinations;
    private readonly IActorRef _queue;
    private readonly string _hostname;
    /// <summary>The node's routing now: a reload of the configuration replaces it between two schedulings.</summary>
    private readonly Func<Router> _router;
    // Targets handed to a destination or a mailbox and not answered yet, with when they were sent.
    private readonly Dictionary<(QueueId, string), DateTimeOffset> _inFlight = [];
    // Messages whose DSN is being built or queued, and the DSNs this partition waits to hear "queued" for.
    private readonly HashSet<QueueId> _bouncing = [];
    private readonly Dictionary<QueueId, (QueueId Original, DsnKind Kind, IReadOnlyList<string> Targets)> _dsns = [];
    // Messages with a delivery under way (Postfix's active queue); the journal knows only incoming and deferred.
    private readonly HashSet<QueueId> _active = [];
    private readonly IRecipientDirectory _directory;
    private readonly IBlobStore _blobs;
    private readonly JournalSync _sync;
    // Bodies of removed messages waiting for their removal to reach the disk, and the wait they ride on.
    private List<string> _removedBodies = [];
    private Task? _removedBodiesWait;
    private readonly Microsoft.Extensions.Logging.ILogger _maillog;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    // Local deliveries that completed their message, whose removal waits to ride on the next write (see OnDelivered).
    private readonly List<(QueuedMessage Message, MailboxReplies.Delivered Delivered, DateTimeOffset At)> _removals = [];
    private readonly List<(QueueEvents.MessageQueued Event, IActorRef ReplyTo)> _waiting = [];
    private List<(QueueEvents.MessageQueued Event, IActorRef ReplyTo)> _writing = [];

    /// <summary>Others that asked for a message while its write was under way; they hear what its first asker hears.</summary>
    private readonly List<(QueueId Id, IActorRef ReplyTo)> _repeats = [];
    private QueuePartitionState _state = QueuePartitionState.Empty;
    private long _eventsSinceSnapshot;

    public QueuePartition(string partitionId, QueueSettings settings, IActorRef mailboxes, IActorRef destinations, IActorRef queue,
        string hostname, Func<Router> router, IRecipientDirectory directory, IBlobStore blobs, JournalSync sync, ILoggerFactory loggers)
    {
        _sync = sync;
        _queue = queue;
        _hostname = hostname;
        _settings = settings;
        _mailboxes = mailboxes;
        _destinations = destinations;
        _router = router;
        _directory = directory;
        _blobs = blobs;
        _maillog = loggers.CreateLogger("Engine.Queue");
        PersistenceId = $"queue-partition-{partitionId}";
        _partition = int.TryParse(partitionId, out var number) ? number : partitionId.GetHashCode(StringComparison.Ordinal);
    }

    private readonly int _partition;

    // Journal records this incarnation could not read (see OnUnreadable). While there are any, no snapshot is taken, so
    // that the next start reads them again (once the code or the row is fixed, the messages come back whole); and while
    // one was a message's first record with no id or body to be read out of it, no body of this partition is swept.
    private int _unreadable;
    private bool _unplaced;

    protected override void PreStart()
    {
        base.PreStart();
        QueueMetrics.Running(_partition, () => (Volatile.Read(ref _state), _active.Count));
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot,
            typeof(ClusterEvent.MemberRemoved));
    }

    protected override void PostStop()
    {
        Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
        QueueMetrics.Stopped(_partition);
        base.PostStop();
    }

    /// <summary>
    /// A member left or died: a destination or mailbox that lived there and had a request of ours will never answer
    /// it, so every unanswered send is made again now, not after delivery-answer-timeout. Its entity starts again
    /// elsewhere; one still alive that has the request ignores the second (destinations by queue id and recipient,
    /// mailboxes by delivery key), so nothing is sent twice.
    /// </summary>
    private void OnMemberRemoved(Address gone)
    {
        var waiting = _inFlight.Keys.Select(k => k.Item1).Distinct().ToArray();
        if (waiting.Length == 0)
            return;
        _log.Info("{0}: member {1} removed: sending {2} unanswered messages again", PersistenceId, gone, waiting.Length);
        _inFlight.Clear();
        foreach (var id in waiting)
        {
            if (_state.Messages.TryGetValue(id, out var message) && Readable(message))
                Dispatch(message);
        }
    }

    public override string PersistenceId { get; }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string partitionId, QueueSettings settings, IActorRef mailboxes, IActorRef destinations, IActorRef queue,
        string hostname, Func<Router> router, IRecipientDirectory directory, IBlobStore blobs, JournalSync sync, ILoggerFactory loggers) =>
        Akka.Actor.Props.Create(() => new QueuePartition(partitionId, settings, mailboxes, destinations, queue, hostname, router,
            directory, blobs, sync, loggers));

    protected override void OnRecover(object message)
    {
        switch (message)
        {
            case SnapshotOffer { Snapshot: QueueSnapshot snapshot }:
                _state = QueuePartitionState.FromSnapshot(snapshot);
                foreach (var id in snapshot.Done ?? [])
                    RememberDone(id);
                break;
            case QueueEvents.MessageQueued or QueueEvents.RecipientDelivered or QueueEvents.RecipientBounced or QueueEvents.BounceQueued
                or QueueEvents.SuccessReported or QueueEvents.MessageRemoved or QueueEvents.MessageDeferred or QueueEvents.DelayWarned or QueueEvents.MessageHeld
                or QueueEvents.MessageReleased or QueueEvents.MessageCorrupt or QueueEvents.MessageRequeued:
                Apply(message);
                _eventsSinceSnapshot++;
                break;
            case UnreadableEvent bad:
                OnUnreadable(bad);
                break;
            case RecoveryCompleted:
                _log.Info("{0}: recovered {1} messages", PersistenceId, _state.Messages.Count);
                if (_unreadable > 0)
                    _log.Error("{0}: {1} journal records could not be read; no snapshot is taken until a start reads them all", PersistenceId, _unreadable);
                Self.Tell(DispatchAll.Instance);
                var every = TimeSpan.FromTicks(Math.Min(_settings.DeliveryAnswerTimeout.Ticks / 2, TimeSpan.FromMinutes(1).Ticks));
                Timers.StartPeriodicTimer(SweepInFlight.Instance, SweepInFlight.Instance, every);
                break;
        }
    }

    protected override void OnCommand(object message)
    {
        switch (message)
        {
            case QueueCommands.Enqueue enqueue:
                if (_state.Messages.TryGetValue(enqueue.Id, out var holder) && holder.BlobRef != enqueue.BlobRef
                    || _writing.Concat(_waiting).Any(w => w.Event.Id == enqueue.Id && w.Event.BlobRef != enqueue.BlobRef)
                    || _done.TryGetValue(enqueue.Id, out var goneBody) && goneBody is not null && goneBody != enqueue.BlobRef)
                {
                    // Another message with this id (two nodes drew the same id in the same millisecond): a repeat carries the
                    // same body, so this is not one, and taking it for one would lose it. The session answers 451 and the
                    // client sends it again, under a new id.
                    _log.Warning("{0}: queue id {1} is in use by another message (body {2}); refused", PersistenceId, enqueue.Id, enqueue.BlobRef);
                    Sender.Tell(new QueueReplies.NotQueued(enqueue.Id, "the queue id is in use by another message"));
                    return;
                }
                if (_state.Contains(enqueue.Id) || _done.ContainsKey(enqueue.Id))
                {
                    // A retry of a write that did land (the message still queued, or already gone): answer as the first time,
                    // once the write is on disk.
                    AnswerWhenSynced(enqueue.Id, Sender);
                    return;
                }
                if (_writing.Concat(_waiting).Where(w => w.Event.Id == enqueue.Id).Select(w => w.ReplyTo).FirstOrDefault() is { } first)
                {
                    // Asked again while its write is under way: one write, and an answer to every asker.
                    if (!first.Equals(Sender))
                        _repeats.Add((enqueue.Id, Sender));
                    return;
                }
                if (!BodyExists(enqueue.BlobRef))
                {
                    // A session commits the body before it asks, so this is a repeat that came late, after the message was
                    // delivered and its body removed (or a spool that lost it): never a new entry without a body.
                    Sender.Tell(new QueueReplies.NotQueued(enqueue.Id, "the message body is not in the spool"));
                    return;
                }
                _waiting.Add((new QueueEvents.MessageQueued(enqueue.Id, enqueue.Envelope, enqueue.BlobRef, DateTimeOffset.UtcNow, enqueue.Hold), Sender));
                if (_writing.Count == 0)
                    WriteBatch();
                break;
            case DispatchAll:
                Resume();
                break;
            case Retry retry when _state.Messages.TryGetValue(retry.Id, out var again):
                if (Readable(again))
                    Dispatch(again);
                break;
            case Retry:
                break; // for a message deleted meanwhile
            case SweepInFlight:
                OnSweepInFlight();
                break;
            case ClusterEvent.MemberRemoved removed:
                OnMemberRemoved(removed.Member.Address);
                // The regions may still route to the gone member for a moment: ask again once their shards have moved.
                Timers.StartSingleTimer("resend-5", new ResendUnanswered(removed.Member.Address), TimeSpan.FromSeconds(5));
                Timers.StartSingleTimer("resend-15", new ResendUnanswered(removed.Member.Address), TimeSpan.FromSeconds(15));
                break;
            case ResendUnanswered again:
                OnMemberRemoved(again.Gone);
                break;
            case ClusterEvent.CurrentClusterState:
                break;
            case QueueCommands.Hold hold:
                OnHold(hold);
                break;
            case QueueCommands.Release release:
                OnRelease(release);
                break;
            case QueueCommands.Flush flush:
                OnFlush(flush);
                break;
            case QueueCommands.Delete delete:
                OnDelete(delete);
                break;
            case QueueCommands.Requeue requeue:
                OnRequeue(requeue);
                break;
            case MailboxReplies.Delivered delivered:
                OnDelivered(delivered);
                break;
            case MailboxReplies.NotDelivered failed:
                OnNotDelivered(failed);
                break;
            case DestinationReplies.Outcomes outcomes:
                OnOutcomes(outcomes);
                break;
            case BatchDurable durable:
                OnDurable(durable);
                break;
            case WriteRemovals:
                PersistRemovals();
                break;
            case BodiesRemovable { Failure: null } removable:
                DeleteBodies(removable.BlobRefs);
                break;
            case BodiesRemovable removable:
                // The removals may not survive a crash: keep the bodies. The spool's sweep removes those of gone messages.
                _log.Error(removable.Failure, "{0}: the journal could not be synced to disk; {1} bodies kept", PersistenceId, removable.BlobRefs.Count);
                break;
            case BounceReady ready:
                _dsns[ready.Id] = (ready.Original, ready.Kind, ready.Targets);
                _queue.Tell(new QueueCommands.Enqueue(ready.Id.Partition(_settings.Partitions), ready.Id, ready.Envelope, ready.BlobRef));
                break;
            case BounceFailed failed:
                _log.Error("{0}: the bounce of {1} could not be written: {2}", PersistenceId, failed.Original, failed.Reason);
                _bouncing.Remove(failed.Original);
                RetryLater(failed.Original);
                break;
            case QueueReplies.Queued queued when _dsns.Remove(queued.Id, out var dsn):
                // Only now is the original free to go: its DSN is on stable storage.
                object written = dsn.Kind switch
                {
                    DsnKind.Failure => new QueueEvents.BounceQueued(dsn.Original, dsn.Targets, queued.Id, DateTimeOffset.UtcNow),
                    DsnKind.Success => new QueueEvents.SuccessReported(dsn.Original, dsn.Targets, queued.Id, DateTimeOffset.UtcNow),
                    _ => new QueueEvents.DelayWarned(dsn.Original, queued.Id, DateTimeOffset.UtcNow),
                };
                PersistAsync(written, e =>
                {
                    Apply(e);
                    _eventsSinceSnapshot++;
                    _bouncing.Remove(dsn.Original);
                    if (dsn.Kind == DsnKind.Failure)
                        QueueLog.Bounce(_maillog, dsn.Original.Value, queued.Id.Value);
                    else if (dsn.Kind == DsnKind.Success)
                        QueueLog.Success(_maillog, dsn.Original.Value, queued.Id.Value);
                    else
                        QueueLog.DelayWarning(_maillog, dsn.Original.Value, queued.Id.Value);
                    if (!_state.Messages.TryGetValue(dsn.Original, out var original) || !StartNotice(original))
                        RemoveIfComplete(dsn.Original);
                });
                break;
            case QueueReplies.NotQueued notQueued when _dsns.Remove(notQueued.Id, out var dsn):
                _log.Warning("{0}: the bounce of {1} was not queued: {2}", PersistenceId, dsn.Original, notQueued.Reason);
                _bouncing.Remove(dsn.Original);
                RetryLater(dsn.Original);
                break;
            case QueueReplies.Queued or QueueReplies.NotQueued:
                break; // about a DSN of an earlier incarnation of this partition
            case QueueCommands.GetMessages get:
                var matching = _state.Messages.Values
                    .Select(m => _active.Contains(m.Id) && m.State is QueueState.Incoming or QueueState.Deferred ? m with { State = QueueState.Active } : m)
                    .Where(m => get.Query is not { } query || query.Matches(m, m.State))
                    .OrderBy(m => m.Envelope.ArrivedAt).ThenBy(m => m.Id.Value, StringComparer.Ordinal).ToArray();
                Sender.Tell(new QueueReplies.MessagesResult(get.Partition, Page(matching, get.Offset, get.Limit), matching.Length));
                break;
            case QueueCommands.FindBodies find:
                // A body is in use while a message of this partition refers to it, or while its enqueue is being written.
                var inUse = _state.Messages.Values.Select(m => m.BlobRef).Concat(_writing.Concat(_waiting).Select(w => w.Event.BlobRef))
                    .ToHashSet(StringComparer.Ordinal);
                Sender.Tell(new QueueReplies.BodiesInUse(find.Partition, _unplaced ? find.Bodies : find.Bodies.Where(b => inUse.Contains(b.BlobRef)).ToArray()));
                break;
            case SaveSnapshotSuccess success:
                DeleteSnapshots(new SnapshotSelectionCriteria(success.Metadata.SequenceNr - 1));
                break;
            case SaveSnapshotFailure failure:
                _log.Warning(failure.Cause, "{0}: snapshot failed", PersistenceId);
                break;
            case DeleteSnapshotsSuccess or DeleteSnapshotsFailure:
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    /// <summary>
    /// Up to <paramref name="limit"/> messages from <paramref name="offset"/>, cut short (never below one) when the
    /// answer would grow past about a megabyte, so that it crosses Akka remoting whole; the asker goes on from there.
    /// </summary>
    private static QueuedMessage[] Page(QueuedMessage[] matching, int offset, int limit)
    {
        const int budget = 1024 * 1024;
        var page = new List<QueuedMessage>();
        var size = 0;
        foreach (var m in matching.Skip(Math.Max(0, offset)).Take(Math.Max(0, limit)))
        {
            size += 512 + m.Envelope.Recipients.Sum(r => r.Address.Length + 96) + m.DeferralOf.Sum(d => d.Key.Length + d.Value.Reply.Length + 48)
                    + m.BounceReplyOf.Sum(b => b.Key.Length + b.Value.Length + 32) + m.DeliveredTo.Sum(a => a.Length + 8);
            if (page.Count > 0 && size > budget)
                break;
            page.Add(m);
        }
        return page.ToArray();
    }

    private void WriteBatch()
    {
        PersistRemovals(); // in the same journal write as the batch
        var count = Math.Min(_waiting.Count, _settings.MaxBatch);
        _writing = _waiting.GetRange(0, count);
        _waiting.RemoveRange(0, count);
        var replyTo = _writing.ToDictionary(w => w.Event.Id, w => w.ReplyTo);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var written = new List<(QueueId Id, IActorRef ReplyTo)>(count);
        PersistAllAsync(_writing.Select(w => w.Event), e =>
        {
            Apply(e);
            _eventsSinceSnapshot++;
            written.Add((e.Id, replyTo[e.Id]));
            if (e.Hold is not null)
                QueueLog.Held(_maillog, e.Id.Value, e.Hold); // a HOLD action at SMTP time: into the hold queue, as Postfix
        });
        DeferAsync(BatchWritten.Instance, _ =>
        {
            // Committed, in the kernel's cache: the "250" waits for the fsync that makes it durable, which this batch
            // shares with every other writer's that asked meanwhile. The next batch is written in the meantime.
            var synced = _sync.SyncAsync();
            if (synced.IsCompletedSuccessfully)
                OnDurable(new BatchDurable(written, started, null));
            else
                synced.PipeTo(Self, success: () => new BatchDurable(written, started, null), failure: e => new BatchDurable(written, started, e));
            OnBatchWritten();
        });
    }

    /// <summary>The new messages are on disk: the sessions hear "queued" (and say 250), and delivery starts.</summary>
    private void OnDurable(BatchDurable durable)
    {
        if (durable.Failure is { } failure)
        {
            // Whether the commits will survive a crash is not known. The sessions say 451 after asking again; the
            // partition starts again from its journal, and answers their repeats from it.
            foreach (var (id, replyTo) in durable.Written)
            {
                var refused = new QueueReplies.NotQueued(id, $"the journal could not be synced to disk: {failure.Message}");
                replyTo.Tell(refused);
                AnswerRepeats(id, refused);
            }
            throw new IOException($"{PersistenceId}: the journal could not be synced to disk", failure);
        }
        QueueMetrics.Written(System.Diagnostics.Stopwatch.GetElapsedTime(durable.Started));
        foreach (var (id, replyTo) in durable.Written)
        {
            replyTo.Tell(new QueueReplies.Queued(id));
            AnswerRepeats(id, new QueueReplies.Queued(id));
            if (_state.Messages.TryGetValue(id, out var message))
                Dispatch(message);
        }
    }

    /// <summary>"Queued" for a message whose write has landed, once that write is on disk.</summary>
    private void AnswerWhenSynced(QueueId id, IActorRef replyTo)
    {
        var synced = _sync.SyncAsync();
        if (synced.IsCompletedSuccessfully)
            replyTo.Tell(new QueueReplies.Queued(id));
        else
            synced.PipeTo(replyTo, Self, () => new QueueReplies.Queued(id),
                e => new QueueReplies.NotQueued(id, $"the journal could not be synced to disk: {e.Message}"));
    }

    private void OnBatchWritten()
    {
        _writing = [];
        MaybeSnapshot();
        if (_waiting.Count > 0)
            WriteBatch();
    }

    /// <summary>
    /// Sends the message on to every target it has not reached: local accounts to their mailbox entity,
    /// remote addresses by route — to the destination entity of the next hop, dropped (discard), or
    /// bounced (error). Recipients with no route yet (MX lookup is not built) wait.
    /// </summary>
    private void Dispatch(QueuedMessage message)
    {
        if (message.State is QueueState.Hold or QueueState.Corrupt || QueuePartitionState.IsStandIn(message))
            return;
        Timers.Cancel(message.Id);
        _active.Add(message.Id);
        var directory = _directory.Current;
        if (QueuePartitionState.IsComplete(message, directory))
        {
            Remove(message); // finished before a restart, but its removal was not written yet
            return;
        }
        StartNotice(message); // DSNs owed (after a restart too), and the "expanded" of an alias
        var remote = new Dictionary<string, List<EnvelopeRecipient>>();
        var settled = new List<object>();
        var waiting = new Dictionary<string, string>();
        var filter = FilterOf(message);
        foreach (var (target, recipient, local) in QueuePartitionState.Targets(message, directory))
        {
            if (filter is not null)
            {
                // FILTER: every target, local or remote, goes to the content filter, which sends it back in.
                if (!_inFlight.ContainsKey((message.Id, target)))
                    Group(remote, filter.NextHop).Add(Onward(message.Envelope.Recipients.First(r => r.Address == recipient), target, directory));
                continue;
            }
            if (local)
            {
                if (!_inFlight.TryAdd((message.Id, target), DateTimeOffset.UtcNow))
                    continue; // asked already; its answer (or the answer timeout) will come
                _mailboxes.Tell(new MailboxCommands.Deliver(target, DeliveryKey(message.Id, target), message.BlobRef,
                    message.Envelope.Sender, recipient, directory.FindUser(target)?.QuotaBytes ?? 0));
                continue;
            }
            var domain = target[(target.LastIndexOf('@') + 1)..];
            if (_inFlight.ContainsKey((message.Id, target)))
                continue;
            var router = _router();
            var route = router.RouteFor(domain);
            if (router.LocalDomains.Contains(domain) || route is Route.Local)
            {
                // A mydestination address (or one of a domain routed "local") with no directory entry has no mailbox
                // (yet): deferred, so that it is tried again when the directory has it, and returned when it expires.
                waiting[target] = $"451 4.3.0 <{target}>: no mailbox in the directory for this address";
                QueueLog.Local(_maillog, message.Id.Value, target, Delay(message), Delays(message, null), "4.3.0", "deferred", "no mailbox in the directory for this address");
                continue;
            }
            var original = Onward(message.Envelope.Recipients.First(r => r.Address == recipient), target, directory);
            switch (route)
            {
                case Route.Smtp smtp:
                    Group(remote, smtp.NextHop).Add(original with { Address = target });
                    break;
                case Route.Mx mx:
                    Group(remote, mx.Domain).Add(original with { Address = target });
                    break;
                case Route.Discard:
                    settled.Add(new QueueEvents.RecipientDelivered(message.Id, target, 0, DateTimeOffset.UtcNow,
                        QueuePartitionState.SuccessNotice(message, target, "delivered", directory)));
                    QueueLog.Remote(_maillog, message.Id.Value, target, "none", Delay(message), Delays(message, null), "2.0.0", "sent", "discarded");
                    break;
                case Route.Error error:
                    // "error:5.1.2 text", as Postfix's error transport: a leading enhanced code is the DSN code.
                    var (dsn, text) = error.Text.Split(' ', 2) is [var code, var rest] && code.Length >= 5 && code[0] == '5' && code[1] == '.'
                        ? (code, rest)
                        : ("5.0.0", error.Text);
                    settled.Add(new QueueEvents.RecipientBounced(message.Id, target, $"550 {dsn} {text}", DateTimeOffset.UtcNow));
                    QueueLog.Remote(_maillog, message.Id.Value, target, "none", Delay(message), Delays(message, null), dsn, "bounced", text);
                    break;
            }
        }
        foreach (var (nextHop, recipients) in remote)
        {
            foreach (var r in recipients)
                _inFlight[(message.Id, r.Address)] = DateTimeOffset.UtcNow;
            _destinations.Tell(new DestinationCommands.Send(nextHop, message.Id, message.BlobRef,
                message.Envelope with { Recipients = recipients }));
        }
        if (settled.Count > 0)
            Settle(message.Id, settled);
        if (waiting.Count > 0)
            Defer(message.Id, waiting);
    }

    /// <summary>
    /// A recipient as the next hop gets it for one of its targets: the target's address, with its NOTIFY, ORCPT and
    /// ORCPT type. When an alias expanded it to several, SUCCESS is taken out (the sender hears "expanded" from here,
    /// not of each member: RFC 3461 section 6.2.7.3), and NEVER stands for nothing left.
    /// </summary>
    private static EnvelopeRecipient Onward(EnvelopeRecipient recipient, string target, DirectorySnapshot directory)
    {
        var onward = recipient with { Address = target };
        if (!recipient.Notify.HasFlag(DsnNotify.Success) || directory.TargetsOf(recipient.Address).Count <= 1)
            return onward;
        var rest = recipient.Notify & ~DsnNotify.Success;
        return onward with { Notify = rest == DsnNotify.Unspecified ? DsnNotify.Never : rest };
    }

    private Route.Smtp? FilterOf(QueuedMessage message)
    {
        if (message.Envelope.Filter is not { } text)
            return null;
        var route = Router.FilterRoute(text);
        if (route is null)
            QueueLog.BadFilter(_maillog, message.Id.Value, text);
        return route;
    }

    private static List<EnvelopeRecipient> Group(Dictionary<string, List<EnvelopeRecipient>> groups, string nextHop)
    {
        if (!groups.TryGetValue(nextHop, out var list))
            groups[nextHop] = list = [];
        return list;
    }

    private static double Delay(QueuedMessage message) => (DateTimeOffset.UtcNow - message.Envelope.ArrivedAt).TotalSeconds;

    /// <summary>
    /// Postfix's delays=a/b/c/d, in seconds: a, from the message's arrival to this attempt's dispatch (the whole delay when
    /// nothing was dispatched: discarded, refused by the transport map, no mailbox); b, from the dispatch to the start of
    /// the session (the wait for a slot at the destination, and the messages' way there and back); c, the session's setup
    /// (DNS, connect, greeting, EHLO, STARTTLS; a reset when a kept session is used again); d, the transmission (for a
    /// local delivery, the mailbox's writing of the file, from the dispatch to its answer).
    /// </summary>
    private static string Delays(QueuedMessage message, DateTimeOffset? dispatched, double setup = 0, double transmission = 0, DateTimeOffset? at = null)
    {
        var now = at ?? DateTimeOffset.UtcNow;
        var total = Math.Max(0, (now - message.Envelope.ArrivedAt).TotalSeconds);
        if (dispatched is not { } sent)
            return string.Create(CultureInfo.InvariantCulture, $"{total:0.##}/0/0/0");
        var before = Math.Clamp((sent - message.Envelope.ArrivedAt).TotalSeconds, 0, total);
        var waited = Math.Max(0, total - before - setup - transmission);
        return string.Create(CultureInfo.InvariantCulture, $"{before:0.##}/{waited:0.##}/{setup:0.##}/{transmission:0.##}");
    }

    /// <summary>When a recipient's attempt was dispatched, while it is in flight.</summary>
    private DateTimeOffset? DispatchedAt(QueueId id, string recipient) =>
        _inFlight.TryGetValue((id, recipient), out var at) ? at : null;

    /// <summary>Journals final outcomes (delivered, bounced), then removes the message if nothing is left.</summary>
    private void Settle(QueueId id, List<object> events)
    {
        var left = events.Count;
        PersistAllAsync(events, e =>
        {
            Apply(e);
            _eventsSinceSnapshot++;
            if (e is QueueEvents.RecipientDelivered d)
                _inFlight.Remove((d.Id, d.Account));
            else if (e is QueueEvents.RecipientBounced b)
                _inFlight.Remove((b.Id, b.Target));
            if (--left > 0 || !_state.Messages.TryGetValue(id, out var current))
                return;
            if (!StartNotice(current))
                RemoveIfComplete(id);
        });
    }

    private void RemoveIfComplete(QueueId id)
    {
        if (_state.Messages.TryGetValue(id, out var message) && QueuePartitionState.IsComplete(message, _directory.Current))
            Remove(message);
    }

    /// <summary>
    /// Builds and stores one DSN owed by the message, one build per message at a time: first for the bounced targets
    /// that are owed one (see <see cref="QueuePartitionState.PendingBounces"/>), then for those owed a success report
    /// (<see cref="QueuePartitionState.PendingSuccesses"/>). The original stays (its body with it) until the DSN is
    /// queued and <see cref="QueueEvents.BounceQueued"/> (or <see cref="QueueEvents.SuccessReported"/>) is written;
    /// after a crash the DSN is built again. Returns false when nothing is owed or a build is already running.
    /// </summary>
    private bool StartNotice(QueuedMessage message)
    {
        var directory = _directory.Current;
        var pending = QueuePartitionState.PendingBounces(message, directory);
        var successes = pending.Count == 0 ? QueuePartitionState.PendingSuccesses(message, directory) : [];
        if ((pending.Count == 0 && successes.Count == 0) || !_bouncing.Add(message.Id))
            return false;
        if (pending.Count > 0)
        {
            var failed = pending.Select(p =>
            {
                var reply = message.BounceReplyOf.GetValueOrDefault(p.Target, "550 5.0.0 undeliverable");
                return new ReportedRecipient(p.Target, p.Recipient.Orcpt, DsnBuilder.StatusOf(reply), reply, p.Recipient.OrcptType);
            }).ToArray();
            BuildNotice(message, DsnKind.Failure, failed);
            return true;
        }
        var reached = successes.Select(s => new ReportedRecipient(s.Reported, s.Recipient.Orcpt, "2.0.0", s.Action switch
        {
            "relayed" => "250 2.0.0 relayed to a next hop that does not offer DSN",
            "expanded" => "250 2.0.0 alias expanded",
            _ => "250 2.0.0 delivered to mailbox",
        }, s.Recipient.OrcptType, s.Action)).ToArray();
        BuildNotice(message, DsnKind.Success, reached);
        return true;
    }

    /// <summary>
    /// The one "delayed" DSN of a message, once it has waited <c>delay-warning-time</c>: for the deferred
    /// targets whose NOTIFY asks for it (DELAY, or nothing said, as Postfix does), never to &lt;&gt;.
    /// </summary>
    private void StartDelayWarning(QueuedMessage message)
    {
        var after = _settings.DelayWarningTime;
        if (after <= TimeSpan.Zero || message.DelayWarned || message.Envelope.Sender.Length == 0
            || DateTimeOffset.UtcNow - message.Envelope.ArrivedAt < after || _bouncing.Contains(message.Id))
            return;
        var all = QueuePartitionState.AllTargets(message, _directory.Current);
        var delayed = new List<ReportedRecipient>();
        foreach (var target in QueuePartitionState.DeferredTargets(message))
        {
            var recipient = QueuePartitionState.RecipientOf(message, target, all);
            if (recipient is null || (recipient.Notify != DsnNotify.Unspecified && !recipient.Notify.HasFlag(DsnNotify.Delay)))
                continue;
            var reply = message.DeferralOf[target].Reply;
            delayed.Add(new ReportedRecipient(target, recipient.Orcpt, DsnBuilder.StatusOf(reply), reply, recipient.OrcptType));
        }
        if (delayed.Count == 0 || !_bouncing.Add(message.Id))
            return;
        BuildNotice(message, DsnKind.Delay, delayed);
    }

    /// <summary>Writes the DSN's body to the spool off the actor's thread, then queues it (see <see cref="BounceReady"/>).</summary>
    private void BuildNotice(QueuedMessage message, DsnKind kind, IReadOnlyList<ReportedRecipient> failed)
    {
        var targets = failed.Select(f => f.Address).ToArray();
        var envelope = message.Envelope;
        var id = QueueId.New();
        var blobs = _blobs;
        var hostname = _hostname;
        var retryUntil = envelope.ArrivedAt + _settings.Retry.MaximalQueueLifetime;
        // A DSN of ours that bounced: the postmaster gets a copy (Postfix's double bounce), marked so that it never bounces again.
        var doubleBounce = envelope.Sender.Length == 0;
        var to = doubleBounce ? _settings.Postmaster(hostname) : envelope.Sender;
        var protocol = doubleBounce ? QueuePartitionState.DoubleBounceProtocol : QueuePartitionState.BounceProtocol;
        var limit = _settings.BounceSizeLimit;
        Task.Run(async () =>
        {
            MimeKit.MimeMessage dsn;
            await using (var original = blobs.OpenRead(message.BlobRef))
            {
                dsn = DsnBuilder.Build(hostname, message.Id, envelope, failed, original, DateTimeOffset.UtcNow, kind, retryUntil, to, limit);
                if (doubleBounce)
                    dsn.Subject = "Postmaster Copy: Undelivered Mail";
            }
            using var bytes = new MemoryStream();
            await dsn.WriteToAsync(bytes).ConfigureAwait(false);
            await using var writer = blobs.Create(id);
            await writer.WriteAsync(bytes.ToArray()).ConfigureAwait(false);
            await writer.CommitAsync().ConfigureAwait(false);
            // The DSN carries the original, so it needs what the original needed.
            var bounceEnvelope = new Envelope("", [new EnvelopeRecipient(to, DsnNotify.Never)], envelope.Body, envelope.SmtpUtf8,
                DsnReturn.Unspecified, null, new ClientInfo("127.0.0.1", "localhost", hostname, protocol), DateTimeOffset.UtcNow, bytes.Length);
            return new BounceReady(message.Id, kind, targets, id, bounceEnvelope, writer.Ref);
        }).PipeTo(Self, success: ready => ready, failure: e => new BounceFailed(message.Id, e.GetBaseException().Message));
    }

    private void OnOutcomes(DestinationReplies.Outcomes outcomes)
    {
        if (!_state.Messages.TryGetValue(outcomes.Id, out var message))
        {
            foreach (var reply in outcomes.Recipients)
                _inFlight.Remove((outcomes.Id, reply.Address));
            return;
        }
        var settled = new List<object>();
        var deferred = new Dictionary<string, string>();
        foreach (var reply in outcomes.Recipients)
        {
            var dispatched = DispatchedAt(outcomes.Id, reply.Address);
            var took = DateTimeOffset.UtcNow - dispatched;
            var delays = Delays(message, dispatched, outcomes.Setup, outcomes.Transmission);
            QueueMetrics.Outcome(reply.Address, reply.Code < 400 ? "sent" : reply.Code >= 500 ? "bounced" : "deferred", took);
            // A final outcome stays in flight until it is journaled, so a retry in between cannot send it again.
            if (reply.Code is >= 400 and < 500)
                _inFlight.Remove((outcomes.Id, reply.Address));
            var text = $"{reply.Code} {(reply.Enhanced is null ? "" : reply.Enhanced + " ")}{reply.Text}";
            var dsn = reply.Enhanced ?? $"{reply.Code / 100}.0.0";
            if (reply.Code < 400)
            {
                settled.Add(new QueueEvents.RecipientDelivered(outcomes.Id, reply.Address, 0, DateTimeOffset.UtcNow,
                    outcomes.NextHopDsn ? null : QueuePartitionState.SuccessNotice(message, reply.Address, "relayed", _directory.Current)));
                QueueLog.Remote(_maillog, outcomes.Id.Value, reply.Address, outcomes.Relay, Delay(message), delays, dsn, "sent", text);
            }
            else if (reply.Code >= 500)
            {
                settled.Add(new QueueEvents.RecipientBounced(outcomes.Id, reply.Address, text, DateTimeOffset.UtcNow));
                QueueLog.Remote(_maillog, outcomes.Id.Value, reply.Address, outcomes.Relay, Delay(message), delays, dsn, "bounced", text);
            }
            else
            {
                deferred[reply.Address] = text;
                QueueLog.Remote(_maillog, outcomes.Id.Value, reply.Address, outcomes.Relay, Delay(message), delays, dsn, "deferred", text);
            }
        }
        if (settled.Count > 0)
            Settle(outcomes.Id, settled);
        Defer(outcomes.Id, deferred);
    }

    /// <summary>
    /// Targets that failed for now: journaled with their replies and the next attempt time (the backoff of
    /// their attempts so far), or — past the message's lifetime — bounced with their last reply, as Postfix
    /// returns an expired message. A delay warning is sent when it is due.
    /// </summary>
    private void Defer(QueueId id, IReadOnlyDictionary<string, string> replies)
    {
        if (!_state.Messages.TryGetValue(id, out var message) || replies.Count == 0)
            return;
        var now = DateTimeOffset.UtcNow;
        if (_settings.Retry.Expired(message.Envelope.ArrivedAt, now, message.Envelope.Sender.Length == 0))
        {
            QueueLog.Expired(_maillog, id.Value, message.Envelope.Sender);
            Settle(id, replies.Select(r => (object)new QueueEvents.RecipientBounced(id, r.Key, r.Value, now)).ToList());
            return;
        }
        var attempts = replies.Keys.Max(t => message.DeferralOf.GetValueOrDefault(t)?.Attempts ?? 0) + 1;
        PersistAsync(new QueueEvents.MessageDeferred(id, replies, now + _settings.Retry.Backoff(attempts), now), e =>
        {
            Apply(e);
            _eventsSinceSnapshot++;
            if (!_state.Messages.TryGetValue(id, out var current) || current.State != QueueState.Deferred)
                return;
            if (!current.DeferralOf.Keys.Any(t => _inFlight.ContainsKey((id, t))))
                _active.Remove(id);
            Timers.StartSingleTimer(id, new Retry(id), Max(e.NextAttemptAt - DateTimeOffset.UtcNow, TimeSpan.Zero));
            StartDelayWarning(current);
        });
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>
    /// Sends that got no answer within delivery-answer-timeout (the destination's node died, say) are
    /// deferred, so the message is tried again instead of waiting for ever. A late answer still counts.
    /// </summary>
    private void OnSweepInFlight()
    {
        var limit = DateTimeOffset.UtcNow - _settings.DeliveryAnswerTimeout;
        var lost = _inFlight.Where(f => f.Value < limit).Select(f => f.Key).ToArray();
        foreach (var group in lost.GroupBy(k => k.Item1))
        {
            var replies = new Dictionary<string, string>();
            foreach (var key in group)
            {
                var dispatched = DispatchedAt(key.Item1, key.Item2);
                _inFlight.Remove(key);
                replies[key.Item2] = $"451 4.4.2 no answer from the delivery agent within {_settings.DeliveryAnswerTimeout}";
                if (_state.Messages.TryGetValue(group.Key, out var message))
                    QueueLog.Remote(_maillog, group.Key.Value, key.Item2, "none", Delay(message), Delays(message, dispatched), "4.4.2", "deferred", replies[key.Item2]);
            }
            Defer(group.Key, replies);
        }
    }

    /// <summary>A retry of what failed for a reason of this node (the DSN could not be written): no attempt is counted.</summary>
    private void RetryLater(QueueId id) =>
        Timers.StartSingleTimer(id, new Retry(id), _settings.Retry.MinimalBackoff);

    /// <summary>
    /// After a restart: deferred messages wait for the rest of their backoff, the others are sent now
    /// (held and corrupt ones stay where they are).
    /// </summary>
    private void Resume()
    {
        var now = DateTimeOffset.UtcNow;
        foreach (var message in _state.Messages.Values)
        {
            if (message.State is QueueState.Hold or QueueState.Corrupt)
                continue;
            if (message.NextAttemptAt is { } at && at > now)
            {
                Timers.StartSingleTimer(message.Id, new Retry(message.Id), at - now);
                StartNotice(message); // a DSN owed before the restart goes now, not at the next attempt
            }
            else if (Readable(message))
                Dispatch(message);
        }
    }

    /// <summary>
    /// False (and the message moved to the corrupt queue) when its body is gone or cut short; false too, without a move,
    /// when the body cannot be read now (an I/O or database error may pass): the message is tried again after
    /// minimal-backoff, with no attempt counted.
    /// </summary>
    private bool Readable(QueuedMessage message)
    {
        var (reason, lasting) = DamageOf(message.BlobRef);
        if (reason is null)
            return true;
        if (!lasting)
        {
            _log.Warning("{0}: {1}: {2}; tried again later", PersistenceId, message.Id, reason);
            _active.Remove(message.Id);
            RetryLater(message.Id);
            return false;
        }
        if (message.State != QueueState.Corrupt)
        {
            QueueLog.Corrupt(_maillog, message.Id.Value, reason);
            PersistAsync(new QueueEvents.MessageCorrupt(message.Id, reason, DateTimeOffset.UtcNow), e =>
            {
                Apply(e);
                _eventsSinceSnapshot++;
                _active.Remove(e.Id);
            });
        }
        return false;
    }

    /// <summary>
    /// Why a body cannot be delivered, or null when it can, and whether that lasts: missing, or cut short (a spool record
    /// whose last octet is not there: a truncated segment), for good; an error reading it, perhaps for now. Asked when a
    /// message is tried again, not on its first dispatch: a failed read there defers it, and the retry finds the damage.
    /// </summary>
    private (string? Reason, bool Lasting) DamageOf(string blobRef)
    {
        try
        {
            if (!_blobs.Exists(blobRef))
                return ($"body {blobRef} is missing", true);
            using var body = _blobs.OpenRead(blobRef);
            if (body.CanSeek && body.Length > 0)
            {
                body.Seek(-1, SeekOrigin.End);
                if (body.ReadByte() < 0)
                    return ($"body {blobRef} is cut short: fewer than its {body.Length} octets are in the spool", true);
            }
            return (null, false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return ($"body {blobRef} cannot be read now: {e.Message}", false);
        }
        catch (ArgumentException e)
        {
            return ($"body reference {blobRef} is not one of this spool: {e.Message}", true);
        }
    }

    /// <summary>
    /// A journal record of this partition that cannot be decoded (see <see cref="UnreadableEvent"/>): logged, and skipped,
    /// so that the partition and every other message of it recover. A message's first record (qe.queued) whose id and
    /// body can still be made out stands in the corrupt queue, its body kept, for an operator to look at and delete;
    /// a lost later record means at most a second attempt (at least once, never lost).
    /// </summary>
    private void OnUnreadable(UnreadableEvent bad)
    {
        _log.Error("{0}: a journal record ({1}) cannot be read and is skipped: {2}", PersistenceId, bad.Manifest, bad.Reason);
        _unreadable++;
        if (bad.Manifest != "qe.queued")
            return;
        if (UnreadableEvent.Field(bad.Text, "Id") is not { } text || !QueueId.TryParse(text, out var id)
            || UnreadableEvent.Field(bad.Text, "BlobRef") is not { } blobRef)
        {
            _unplaced = true; // a body somewhere in the spool may be its: the sweep must not take any body of this partition
            return;
        }
        if (_state.Contains(id))
            return;
        var reason = $"its journal record cannot be read ({bad.Reason})";
        _state = _state.WithUnreadable(id, blobRef, reason);
        QueueLog.Corrupt(_maillog, id.Value, reason);
    }

    private void OnHold(QueueCommands.Hold hold)
    {
        if (!_state.Messages.TryGetValue(hold.Id, out var message) || message.State is QueueState.Hold or QueueState.Corrupt
            || QueuePartitionState.IsStandIn(message))
        {
            Sender.Tell(new QueueReplies.Changed(hold.Partition, 0));
            return;
        }
        var replyTo = Sender;
        PersistAsync(new QueueEvents.MessageHeld(hold.Id, hold.Reason, DateTimeOffset.UtcNow), e =>
        {
            Apply(e);
            _eventsSinceSnapshot++;
            Timers.Cancel(e.Id);
            QueueLog.Held(_maillog, e.Id.Value, e.Reason);
            replyTo.Tell(new QueueReplies.Changed(hold.Partition, 1));
        });
    }

    private void OnRelease(QueueCommands.Release release)
    {
        if (!_state.Messages.TryGetValue(release.Id, out var message) || message.State != QueueState.Hold || QueuePartitionState.IsStandIn(message))
        {
            Sender.Tell(new QueueReplies.Changed(release.Partition, 0));
            return;
        }
        var replyTo = Sender;
        PersistAsync(new QueueEvents.MessageReleased(release.Id, DateTimeOffset.UtcNow), e =>
        {
            Apply(e);
            _eventsSinceSnapshot++;
            QueueLog.Released(_maillog, e.Id.Value);
            replyTo.Tell(new QueueReplies.Changed(release.Partition, 1));
            if (_state.Messages.TryGetValue(e.Id, out var released) && Readable(released))
                Dispatch(released);
        });
    }

    private void OnFlush(QueueCommands.Flush flush)
    {
        var deferred = _state.Messages.Values.Where(m => m.State == QueueState.Deferred && !_active.Contains(m.Id)
            && (flush.Id is not { } id || m.Id == id)
            && (flush.Site is not { } site || m.DeferralOf.Keys.Any(t => t.EndsWith("@" + site, StringComparison.OrdinalIgnoreCase)))).ToArray();
        foreach (var message in deferred)
        {
            if (Readable(message))
                Dispatch(message);
        }
        Sender.Tell(new QueueReplies.Changed(flush.Partition, deferred.Length));
    }

    private void OnDelete(QueueCommands.Delete delete)
    {
        if (!_state.Messages.TryGetValue(delete.Id, out var message))
        {
            Sender.Tell(new QueueReplies.Changed(delete.Partition, 0));
            return;
        }
        var replyTo = Sender;
        PersistAsync(new QueueEvents.MessageRemoved(delete.Id, DateTimeOffset.UtcNow), e =>
        {
            var present = _state.Messages.ContainsKey(e.Id); // not when a delivery finished it meanwhile
            OnRemoved(message, e);
            replyTo.Tell(new QueueReplies.Changed(delete.Partition, present ? 1 : 0));
        });
    }

    private void OnRequeue(QueueCommands.Requeue requeue)
    {
        // A message known only from a damaged record has no recipients: requeued, it would count as delivered and go.
        if (!_state.Messages.TryGetValue(requeue.Id, out var message) || _active.Contains(message.Id) || QueuePartitionState.IsStandIn(message))
        {
            Sender.Tell(new QueueReplies.Changed(requeue.Partition, 0));
            return;
        }
        var replyTo = Sender;
        PersistAsync(new QueueEvents.MessageRequeued(requeue.Id, DateTimeOffset.UtcNow), e =>
        {
            Apply(e);
            _eventsSinceSnapshot++;
            Timers.Cancel(e.Id);
            QueueLog.Requeued(_maillog, e.Id.Value);
            replyTo.Tell(new QueueReplies.Changed(requeue.Partition, 1));
            if (_state.Messages.TryGetValue(e.Id, out var requeued) && !_active.Contains(e.Id) && Readable(requeued))
                Dispatch(requeued);
        });
    }

    private static string DeliveryKey(QueueId id, string account) => $"{id.Value}/{account}";

    private static QueueId? IdOf(string key) =>
        QueueId.TryParse(key.Split('/')[0], out var id) ? id : null;

    private void OnDelivered(MailboxReplies.Delivered delivered)
    {
        if (IdOf(delivered.Key) is not { } id || !_state.Messages.TryGetValue(id, out var message)
            || message.DeliveredTo.Contains(delivered.Account))
        {
            if (IdOf(delivered.Key) is { } gone)
                _inFlight.Remove((gone, delivered.Account));
            return; // a repeated answer, or for a message already gone
        }
        var done = new QueueEvents.RecipientDelivered(id, delivered.Account, delivered.Uid, DateTimeOffset.UtcNow,
            QueuePartitionState.SuccessNotice(message, delivered.Account, "delivered", _directory.Current));
        QueueMetrics.Outcome(delivered.Account, "sent", _inFlight.TryGetValue((id, delivered.Account), out var since) ? done.At - since : null, local: true);
        if (_state.Apply(done).Messages.TryGetValue(id, out var after) && QueuePartitionState.IsComplete(after, _directory.Current))
        {
            // The answer that completes the message is journaled as its removal alone: once the message is gone, which
            // of its recipients had it says nothing more. One row (and one insert) less per message delivered locally.
            // Nothing waits for it (the mailbox has the message on disk, and a repeat after a crash finds it there), so
            // it rides on the partition's next write of new messages, one journal transaction for both, or goes alone
            // after remove-delay when none comes.
            if (_removals.Any(r => r.Message.Id == id))
                return; // a repeated answer while the removal waits
            _removals.Add((message, delivered, done.At));
            if (_removals.Count >= _settings.MaxBatch)
                PersistRemovals();
            else if (_removals.Count == 1)
                Timers.StartSingleTimer(WriteRemovals.Instance, WriteRemovals.Instance, RemovalDelay);
            return;
        }
        PersistAsync(done, e =>
        {
            Apply(e);
            _eventsSinceSnapshot++;
            var dispatched = DispatchedAt(id, delivered.Account);
            _inFlight.Remove((id, delivered.Account));
            if (!_state.Messages.TryGetValue(id, out var current))
                return; // removed meanwhile (PersistAsync lets other commands run between write and handler)
            LogDeliveredLocal(message, delivered, done.At, dispatched); // the message as it was: its targets still hold this one
            if (!StartNotice(current))
                RemoveIfComplete(id);
        });
    }

    /// <summary>How long a completed local delivery's removal waits for a write of new messages to ride on.</summary>
    private static readonly TimeSpan RemovalDelay = TimeSpan.FromMilliseconds(50);

    /// <summary>Journals the removals that wait (in the same write as whatever else this command persists).</summary>
    private void PersistRemovals()
    {
        if (_removals.Count == 0)
            return;
        Timers.Cancel(WriteRemovals.Instance);
        foreach (var (message, delivered, at) in _removals)
        {
            PersistAsync(new QueueEvents.MessageRemoved(message.Id, at), removed =>
            {
                var dispatched = DispatchedAt(message.Id, delivered.Account);
                _inFlight.Remove((message.Id, delivered.Account));
                if (_state.Messages.ContainsKey(message.Id))
                    LogDeliveredLocal(message, delivered, at, dispatched);
                OnRemoved(message, removed);
            });
        }
        _removals.Clear();
    }

    private void LogDeliveredLocal(QueuedMessage message, MailboxReplies.Delivered delivered, DateTimeOffset at, DateTimeOffset? dispatched)
    {
        var origin = QueuePartitionState.LocalTargets(message, _directory.Current)
            .FirstOrDefault(t => t.Account == delivered.Account).Recipient ?? delivered.Account;
        var delays = Delays(message, dispatched, transmission: Math.Max(0, (at - dispatched)?.TotalSeconds ?? 0), at: at);
        QueueLog.DeliveredLocal(_maillog, message.Id.Value, delivered.Account, origin, (at - message.Envelope.ArrivedAt).TotalSeconds, delays, delivered.Uid);
    }

    private void Remove(QueuedMessage message) =>
        PersistAsync(new QueueEvents.MessageRemoved(message.Id, DateTimeOffset.UtcNow), e => OnRemoved(message, e));

    /// <summary>The message has left the journal: its timers, markers and body go too.</summary>
    private void OnRemoved(QueuedMessage message, QueueEvents.MessageRemoved e)
    {
        if (!_state.Messages.ContainsKey(e.Id))
            return; // removed twice (two writes raced): once is enough
        Apply(e);
        _eventsSinceSnapshot++;
        _active.Remove(message.Id);
        Timers.Cancel(message.Id);
        DeleteBodyWhenSynced(message.BlobRef);
        QueueLog.Removed(_maillog, message.Id.Value);
    }

    /// <summary>
    /// A removed message's body goes once its removal is on disk: a crash of the machine before that brings the message
    /// back, and it must still have its body. The wait rides on the fsyncs the new messages ask for (one at most a second
    /// later when none does); the removals that wait for the same fsync go together.
    /// </summary>
    private void DeleteBodyWhenSynced(string blobRef)
    {
        var synced = _sync.WhenSyncedAsync(TimeSpan.FromSeconds(1));
        if (synced.IsCompletedSuccessfully)
        {
            DeleteBodies([blobRef]);
            return;
        }
        if (!ReferenceEquals(synced, _removedBodiesWait))
        {
            // An fsync started since the last removal (or none waits): this one needs a later fsync, and a list of its own.
            var bodies = _removedBodies = [];
            _removedBodiesWait = synced;
            synced.PipeTo(Self, success: () => new BodiesRemovable(bodies, null), failure: e => new BodiesRemovable(bodies, e));
        }
        _removedBodies.Add(blobRef);
    }

    private void DeleteBodies(List<string> blobRefs)
    {
        foreach (var blobRef in blobRefs)
        {
            try
            {
                _blobs.Delete(blobRef);
            }
            catch (IOException ex)
            {
                _log.Warning("{0}: body {1} not deleted: {2}", PersistenceId, blobRef, ex.Message);
            }
        }
    }

    private void OnNotDelivered(MailboxReplies.NotDelivered failed)
    {
        if (IdOf(failed.Key) is not { } id)
            return;
        var dispatched = DispatchedAt(id, failed.Account);
        QueueMetrics.Outcome(failed.Account, failed.Status.StartsWith('5') ? "bounced" : "deferred", DateTimeOffset.UtcNow - dispatched, local: true);
        _inFlight.Remove((id, failed.Account));
        if (!_state.Messages.TryGetValue(id, out var message))
            return;
        var delays = Delays(message, dispatched, transmission: (DateTimeOffset.UtcNow - dispatched)?.TotalSeconds ?? 0);
        if (failed.Status.StartsWith('5'))
        {
            QueueLog.Local(_maillog, id.Value, failed.Account, Delay(message), delays, failed.Status, "bounced", failed.Reason);
            Settle(id, [new QueueEvents.RecipientBounced(id, failed.Account, $"552 {failed.Status} {failed.Reason}", DateTimeOffset.UtcNow)]);
            return;
        }
        QueueLog.Local(_maillog, id.Value, failed.Account, Delay(message), delays, failed.Status, "deferred", failed.Reason);
        var code = failed.Status == "4.2.2" ? 452 : 451;
        Defer(id, new Dictionary<string, string> { [failed.Account] = $"{code} {failed.Status} {failed.Reason}" });
    }

    private void MaybeSnapshot()
    {
        if (_eventsSinceSnapshot < _settings.SnapshotEvery || _unreadable > 0)
            return;
        _eventsSinceSnapshot = 0;
        SaveSnapshot(_state.ToSnapshot() with { Done = _doneOrder.ToArray() });
    }

    /// <summary>
    /// The journal failed (the outcome of the write is unknown) and this actor stops: every session that
    /// waits hears NotQueued and answers 451; sharding starts the partition again on the next message.
    /// </summary>
    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        _log.Error(cause, "{0}: journal write failed", PersistenceId);
        foreach (var (e, replyTo) in _writing.Concat(_waiting))
            replyTo.Tell(new QueueReplies.NotQueued(e.Id, cause.Message));
        foreach (var (id, replyTo) in _repeats)
            replyTo.Tell(new QueueReplies.NotQueued(id, cause.Message));
        _writing = [];
        _waiting.Clear();
        _repeats.Clear();
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    /// <summary>The journal refused this one event (it was not stored); the rest of the batch goes on.</summary>
    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        _log.Error(cause, "{0}: journal refused an event", PersistenceId);
        if (@event is QueueEvents.MessageQueued rejected)
        {
            foreach (var (e, replyTo) in _writing.Where(w => w.Event.Id == rejected.Id))
                replyTo.Tell(new QueueReplies.NotQueued(e.Id, cause.Message));
            AnswerRepeats(rejected.Id, new QueueReplies.NotQueued(rejected.Id, cause.Message));
        }
    }

    private bool BodyExists(string blobRef)
    {
        try
        {
            return _blobs.Exists(blobRef);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            _log.Warning("{0}: cannot check the body {1}: {2}", PersistenceId, blobRef, e.Message);
            return false;
        }
    }

    /// <summary>
    /// The latest messages that left the partition (delivered, bounced, deleted), kept in the snapshot too: a repeat
    /// Enqueue of one of them (its first answer lost with a node that left) is answered Queued, as it was, and not
    /// written again. With the body reference each had (null for those known from a snapshot, which keeps ids only),
    /// so that another message that drew the same id is not taken for a repeat.
    /// </summary>
    private readonly Dictionary<QueueId, string?> _done = [];
    private readonly Queue<QueueId> _doneOrder = new();
    private const int DoneKept = 10_000;

    private void Apply(object e)
    {
        var body = e is QueueEvents.MessageRemoved gone && _state.Messages.TryGetValue(gone.Id, out var leaving) ? leaving.BlobRef : null;
        _state = _state.Apply(e);
        if (e is QueueEvents.MessageRemoved removed)
            RememberDone(removed.Id, body);
    }

    private void RememberDone(QueueId id, string? blobRef = null)
    {
        if (!_done.TryAdd(id, blobRef))
            return;
        _doneOrder.Enqueue(id);
        if (_doneOrder.Count > DoneKept)
            _done.Remove(_doneOrder.Dequeue());
    }

    private void AnswerRepeats(QueueId id, object answer)
    {
        if (_repeats.Count == 0)
            return;
        foreach (var (_, replyTo) in _repeats.Where(r => r.Id == id))
            replyTo.Tell(answer);
        _repeats.RemoveAll(r => r.Id == id);
    }
}
