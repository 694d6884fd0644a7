using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using Engine.Messages.Queue;

namespace Engine.Queue;

/// <summary>
/// One partition of the queue (Postfix's cleanup and qmgr for the ids that hash to it): a sharded,
/// persistent entity. Enqueue requests that arrive while a write is under way wait and then go to the
/// journal together, in one <c>PersistAllAsync</c>: many sessions share one transaction and one fsync
/// (group commit). Each session hears "queued" only after its event is in the journal.
/// </summary>
public sealed class QueuePartition : UntypedPersistentActor
{
    private sealed record BatchWritten
    {
        public static readonly BatchWritten Instance = new();
    }

    private readonly QueueSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly List<(QueueEvents.MessageQueued Event, IActorRef ReplyTo)> _waiting = [];
    private List<(QueueEvents.MessageQueued Event, IActorRef ReplyTo)> _writing = [];
    private QueuePartitionState _state = QueuePartitionState.Empty;
    private long _eventsSinceSnapshot;

    public QueuePartition(string partitionId, QueueSettings settings)
    {
        _settings = settings;
        PersistenceId = $"queue-partition-{partitionId}";
    }

    public override string PersistenceId { get; }

    public static Props Props(string partitionId, QueueSettings settings) =>
        Akka.Actor.Props.Create(() => new QueuePartition(partitionId, settings));

    protected override void OnRecover(object message)
    {
        switch (message)
        {
            case SnapshotOffer { Snapshot: QueueSnapshot snapshot }:
                _state = QueuePartitionState.FromSnapshot(snapshot);
                break;
            case QueueEvents.MessageQueued e:
                _state = _state.Apply(e);
                _eventsSinceSnapshot++;
                break;
            case RecoveryCompleted:
                _log.Info("{0}: recovered {1} messages", PersistenceId, _state.Messages.Count);
                break;
        }
    }

    protected override void OnCommand(object message)
    {
        switch (message)
        {
            case QueueCommands.Enqueue enqueue:
                if (_state.Contains(enqueue.Id))
                {
                    // A retry of a write that did land: answer as the first time.
                    Sender.Tell(new QueueReplies.Queued(enqueue.Id));
                    return;
                }
                _waiting.Add((new QueueEvents.MessageQueued(enqueue.Id, enqueue.Envelope, enqueue.BlobRef, DateTimeOffset.UtcNow), Sender));
                if (_writing.Count == 0)
                    WriteBatch();
                break;
            case QueueCommands.GetMessages get:
                Sender.Tell(new QueueReplies.MessagesResult(get.Partition,
                    _state.Messages.Values.OrderBy(m => m.Id.Value, StringComparer.Ordinal).ToArray()));
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

    private void WriteBatch()
    {
        var count = Math.Min(_waiting.Count, _settings.MaxBatch);
        _writing = _waiting.GetRange(0, count);
        _waiting.RemoveRange(0, count);
        var replyTo = _writing.ToDictionary(w => w.Event.Id, w => w.ReplyTo);
        PersistAllAsync(_writing.Select(w => w.Event), e =>
        {
            _state = _state.Apply(e);
            _eventsSinceSnapshot++;
            replyTo[e.Id].Tell(new QueueReplies.Queued(e.Id));
        });
        DeferAsync(BatchWritten.Instance, _ => OnBatchWritten());
    }

    private void OnBatchWritten()
    {
        _writing = [];
        MaybeSnapshot();
        if (_waiting.Count > 0)
            WriteBatch();
    }

    private void MaybeSnapshot()
    {
        if (_eventsSinceSnapshot < _settings.SnapshotEvery)
            return;
        _eventsSinceSnapshot = 0;
        SaveSnapshot(_state.ToSnapshot());
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
        _writing = [];
        _waiting.Clear();
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
        }
    }
}
