using System.Text;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using Engine.Messages.Mailbox;
using Engine.Storage.Blobs;
using Engine.Storage.Maildir;

namespace Engine.Mailbox;

/// <summary>
/// The mailbox of one account: a sharded, persistent entity, the only writer of its Maildir. A delivery is
/// made exactly once, even across a crash: the file name follows from the delivery key
/// (<see cref="MaildirStore.NameFor"/>), so a delivery asked again after a crash finds that file instead of
/// writing a second copy; only once the file is in new/ is <see cref="MailboxEvents.MessageAppended"/>
/// written and the queue told. (Older journals named the file in a <see cref="MailboxEvents.DeliveryStarted"/>
/// first; those are still honoured.) One file is written at a time; other deliveries wait in the stash. A delivery that would
/// take the mailbox over its quota is refused: 4.2.2 (the queue retries) or, with quota-full-tempfail off,
/// 5.2.2 (bounced), as Dovecot's LDA. The usage is read from the Maildir once, then kept up to date.
/// </summary>
public sealed class Mailbox : UntypedPersistentActor
{
    private sealed record Written(MailboxCommands.Deliver Command, string FileName, IActorRef ReplyTo);

    private sealed record WriteFailed(MailboxCommands.Deliver Command, IActorRef ReplyTo, string Reason);

    private sealed record Removed(IReadOnlyList<long> Uids, IActorRef ReplyTo);

    private readonly string _account;
    private readonly MaildirStore _maildir;
    private readonly IBlobStore _blobs;
    private readonly bool _quotaTempfail;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private long? _usage;
    private MailboxState _state = MailboxState.Empty;
    private bool _writing;
    private int _eventsSinceSnapshot;
    private readonly HashSet<IActorRef> _watchers = [];

    public Mailbox(string account, MaildirStore maildir, IBlobStore blobs, bool quotaTempfail)
    {
        _quotaTempfail = quotaTempfail;
        _account = account;
        _maildir = maildir;
        _blobs = blobs;
        PersistenceId = $"mailbox-{account}";
    }

    public override string PersistenceId { get; }

    public static Props Props(string account, MaildirStore maildir, IBlobStore blobs, bool quotaTempfail = true) =>
        Akka.Actor.Props.Create(() => new Mailbox(account, maildir, blobs, quotaTempfail));

    protected override void OnRecover(object message)
    {
        switch (message)
        {
            case SnapshotOffer { Snapshot: MailboxSnapshot snapshot }:
                _state = MailboxState.FromSnapshot(snapshot);
                break;
            case MailboxEvents.DeliveryStarted or MailboxEvents.MessageAppended or MailboxEvents.MessagesExpunged or MailboxEvents.MailboxCreated
                or MailboxEvents.FlagsChanged:
                _state = _state.Apply(message);
                break;
            case RecoveryCompleted when _state.UidValidity == 0:
                // A new mailbox (or one from before this event existed): its UIDVALIDITY is fixed now, for good.
                Persist(new MailboxEvents.MailboxCreated(DateTimeOffset.UtcNow.ToUnixTimeSeconds()), e => _state = _state.Apply(e));
                break;
        }
    }

    protected override void OnCommand(object message)
    {
        switch (message)
        {
            case MailboxCommands.Deliver deliver when _state.Delivered.TryGetValue(deliver.Key, out var uid):
                Sender.Tell(new MailboxReplies.Delivered(_account, deliver.Key, uid)); // asked again: once is enough
                break;
            case MailboxCommands.Deliver when _writing:
                Stash.Stash();
                break;
            case MailboxCommands.Deliver deliver when _state.Started.TryGetValue(deliver.Key, out var name):
                Write(deliver, name, Sender); // started before a crash: the file may be there already
                break;
            case MailboxCommands.Deliver deliver:
                Start(deliver);
                break;
            case Written written:
                Persist(new MailboxEvents.MessageAppended(written.Command.Key, _state.NextUid, written.FileName), e =>
                {
                    _state = _state.Apply(e);
                    _usage += MaildirStore.SizeOf(e.FileName) ?? 0;
                    written.ReplyTo.Tell(new MailboxReplies.Delivered(_account, e.Key, e.Uid));
                    Notify([_state.Messages[e.Uid]], [], []);
                    Done();
                });
                break;
            case MailboxCommands.List:
                Sender.Tell(Listing());
                break;
            case MailboxCommands.Watch:
                if (_watchers.Add(Sender))
                    Context.Watch(Sender);
                Sender.Tell(Listing());
                break;
            case MailboxCommands.Unwatch:
                if (_watchers.Remove(Sender))
                    Context.Unwatch(Sender);
                break;
            case Terminated terminated:
                _watchers.Remove(terminated.ActorRef);
                break;
            case MailboxCommands.Store store:
                OnStore(store);
                break;
            case MailboxCommands.Expunge expunge:
                OnExpunge(expunge);
                break;
            case Removed removed:
                Persist(new MailboxEvents.MessagesExpunged(removed.Uids), e =>
                {
                    foreach (var uid in e.Uids)
                        _usage -= _state.Messages.TryGetValue(uid, out var gone) ? gone.Size : 0;
                    _state = _state.Apply(e);
                    removed.ReplyTo.Tell(new MailboxReplies.Expunged(_account, e.Uids));
                    if (e.Uids.Count > 0)
                        Notify([], [], e.Uids);
                });
                break;
            case WriteFailed failed:
                _log.Warning("{0}: delivery {1} failed: {2}", _account, failed.Command.Key, failed.Reason);
                failed.ReplyTo.Tell(new MailboxReplies.NotDelivered(_account, failed.Command.Key, failed.Reason));
                Done();
                break;
            case SaveSnapshotSuccess success:
                DeleteSnapshots(new SnapshotSelectionCriteria(success.Metadata.SequenceNr - 1));
                break;
            case SaveSnapshotFailure or DeleteSnapshotsSuccess or DeleteSnapshotsFailure:
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void Start(MailboxCommands.Deliver deliver)
    {
        long size;
        try
        {
            using var body = _blobs.OpenRead(deliver.BlobRef);
            size = Prefix(deliver).Length + body.Length;
            if (deliver.QuotaBytes > 0)
            {
                _usage ??= _maildir.Usage(_account);
                if (_usage + size > deliver.QuotaBytes)
                {
                    Sender.Tell(new MailboxReplies.NotDelivered(_account, deliver.Key,
                        $"Mailbox full: quota exceeded ({_usage} of {deliver.QuotaBytes} bytes used, message {size})", _quotaTempfail ? "4.2.2" : "5.2.2"));
                    return;
                }
            }
        }
        catch (IOException e)
        {
            Sender.Tell(new MailboxReplies.NotDelivered(_account, deliver.Key, e.Message));
            return;
        }
        // The name follows from the key: a delivery asked again after a crash looks for it before writing, so no
        // journal write is needed before the file (DeliveryStarted is only read back from older journals).
        Write(deliver, NameOf(deliver, size), Sender);
    }

    private static string NameOf(MailboxCommands.Deliver deliver, long size)
    {
        var id = deliver.Key.Split('/')[0];
        var time = Engine.Primitives.QueueId.TryParse(id, out var queueId) ? queueId.Time : DateTimeOffset.UnixEpoch;
        return MaildirStore.NameFor(time, id, deliver.Key, size);
    }

    /// <summary>Writes the file off the actor's thread; the outcome comes back as a message.</summary>
    private void Write(MailboxCommands.Deliver deliver, string name, IActorRef replyTo)
    {
        _writing = true;
        var prefix = Prefix(deliver);
        Task.Run(async () =>
        {
            if (_maildir.Contains(_account, name))
                return;
            await using var body = _blobs.OpenRead(deliver.BlobRef);
            await _maildir.WriteAsync(_account, name, prefix, body).ConfigureAwait(false);
        }).PipeTo(Self, success: () => new Written(deliver, name, replyTo),
            failure: e => new WriteFailed(deliver, replyTo, e.GetBaseException().Message));
    }

    private MailboxReplies.Listing Listing() =>
        new(_account, _state.UidValidity, _state.Messages.Values.ToArray(), _state.NextUid, _state.HighestModSeq);

    /// <summary>
    /// Sets the flags, renames the files to match (cur/NAME:2,FLAGS, so Dovecot and mutt see the same), then
    /// journals the new flags at one new modseq. A file that cannot be renamed does not stop the change: the
    /// index is what IMAP reads; the name only mirrors it.
    /// </summary>
    private void OnStore(MailboxCommands.Store store)
    {
        var changes = new List<FlagsOf>();
        var modified = new List<long>();
        foreach (var uid in store.Uids.Distinct())
        {
            if (!_state.Messages.TryGetValue(uid, out var message))
                continue;
            if (store.UnchangedSince is { } since && message.ModSeq > since)
            {
                modified.Add(uid);
                continue;
            }
            var flags = MailboxState.Changed(message.FlagList, store.Change, store.Flags);
            if (flags.Count == message.FlagList.Count && flags.All(f => message.FlagList.Contains(f, StringComparer.OrdinalIgnoreCase)))
                continue;
            try
            {
                _maildir.SetFlags(_account, message.FileName, message.Cur, message.FlagList, flags);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log.Warning("{0}: cannot rename uid {1} for its flags: {2}", _account, uid, e.Message);
            }
            changes.Add(new FlagsOf(uid, flags));
        }
        var replyTo = Sender;
        if (changes.Count == 0)
        {
            replyTo.Tell(new MailboxReplies.Stored(_account, [], modified));
            return;
        }
        Persist(new MailboxEvents.FlagsChanged(changes), e =>
        {
            _state = _state.Apply(e);
            var changed = e.Messages.Select(m => _state.Messages[m.Uid]).ToArray();
            replyTo.Tell(new MailboxReplies.Stored(_account, changed, modified));
            Notify([], changed, []);
            CountEvent();
        });
    }

    /// <summary>Tells every watching session what changed (they may be on any node).</summary>
    private void Notify(IReadOnlyList<MailMessage> appended, IReadOnlyList<MailMessage> flags, IReadOnlyList<long> expunged)
    {
        if (_watchers.Count == 0)
            return;
        var changed = new MailboxReplies.Changed(_account, appended, flags, expunged, _state.HighestModSeq);
        foreach (var watcher in _watchers)
            watcher.Tell(changed);
    }

    /// <summary>
    /// Deletes the files first, then journals the expunge: a crash in between leaves index entries whose
    /// files are gone (a later read says so), never a file the index forgot (which a reader would show again).
    /// </summary>
    private void OnExpunge(MailboxCommands.Expunge expunge)
    {
        var gone = expunge.Uids.Where(_state.Messages.ContainsKey).Distinct().Select(uid => _state.Messages[uid]).ToArray();
        var replyTo = Sender;
        if (gone.Length == 0)
        {
            replyTo.Tell(new MailboxReplies.Expunged(_account, []));
            return;
        }
        // File by file: those deleted are journaled even when a later one fails (a file already gone counts as deleted).
        var account = _account;
        var maildir = _maildir;
        var log = _log;
        Task.Run(() =>
        {
            var removed = new List<long>();
            foreach (var message in gone)
            {
                try
                {
                    maildir.Delete(account, message.FileName, message.Cur, message.FlagList);
                    removed.Add(message.Uid);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    log.Warning("{0}: expunge of uid {1} failed: {2}", account, message.Uid, e.Message);
                }
            }
            return new Removed(removed, replyTo);
        }).PipeTo(Self);
    }

    /// <summary>The trace headers of a final delivery (RFC 5321 section 4.4; Postfix's Delivered-To).</summary>
    private static byte[] Prefix(MailboxCommands.Deliver deliver) =>
        Encoding.UTF8.GetBytes($"Return-Path: <{deliver.ReturnPath}>\r\nDelivered-To: {deliver.DeliveredTo}\r\n");

    private void Done()
    {
        _writing = false;
        CountEvent();
        Stash.UnstashAll();
    }

    private void CountEvent()
    {
        if (++_eventsSinceSnapshot >= 1000)
        {
            _eventsSinceSnapshot = 0;
            SaveSnapshot(_state.ToSnapshot());
        }
    }
}
