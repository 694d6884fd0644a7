using System.Text;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using Akka.Persistence;
using Engine.Messages.Mailbox;
using Engine.Storage.Blobs;
using Engine.Storage.Maildir;
using Engine.Storage.Sql;

namespace Engine.Mailbox;

/// <summary>
/// The mailbox of one account: a sharded, persistent entity, the only writer of its Maildir. A delivery is
/// made exactly once, even across a crash: the file name follows from the delivery key
/// (<see cref="MaildirStore.NameFor"/>), so a delivery asked again after a crash finds that file instead of
/// writing a second copy; only once the file is in new/ is <see cref="MailboxEvents.MessageAppended"/>
/// written and the queue told. (Older journals named the file in a <see cref="MailboxEvents.DeliveryStarted"/>
/// first; those are still honoured.) One file is written at a time; other writes wait in the stash. A delivery that would
/// take the mailbox over its quota is refused: 4.2.2 (the queue retries) or, with quota-full-tempfail off,
/// 5.2.2 (bounced), as Dovecot's LDA. The usage is read from the Maildir once, then kept up to date.
/// Folders, flags, APPEND, COPY and MOVE are in <c>Mailbox.Folders.cs</c>.
/// </summary>
public sealed partial class Mailbox : UntypedPersistentActor
{
    /// <summary>A file written: a delivery (Key set) or an APPEND (Key empty) into <paramref name="Folder"/>.</summary>
    private sealed record Written(string Key, string Folder, string FileName, IReadOnlyList<string>? Flags, IActorRef ReplyTo,
        StructureFile.Entry? Structure);

    private sealed record WriteFailed(string Key, string FileName, IActorRef ReplyTo, string Reason);

    /// <summary>A batch of appends is journaled and on disk (<see cref="JournalSync"/>), or could not be made so.</summary>
    private sealed record AppendsDurable((MailboxEvents.MessageAppended Event, Written Written)[] Batch, Exception? Failure);

    private sealed record Removed(string Folder, IReadOnlyList<long> Uids, IActorRef ReplyTo);

    private readonly string _account;
    private readonly MaildirStore _maildir;
    private readonly IBlobStore _blobs;
    private readonly bool _quotaTempfail;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<IActorRef, string> _watchers = [];
    private long? _usage;
    private (string Session, DateTime Until)? _pop3Lock;
    private bool _expunging;
    private MailboxState _state = MailboxState.Empty;
    /// <summary>Files being written at once; more deliveries wait in the stash.</summary>
    private const int MaxWrites = 16;

    private int _writes;
    private readonly Dictionary<string, long> _writing = []; // file name → size, of the files being written (they count against the quota)
    private readonly HashSet<string> _busyKeys = []; // delivery keys being written or journaled: a second Deliver waits
    private Lazy<IReadOnlySet<string>>? _unjournaled;
    private readonly List<(MailboxEvents.MessageAppended Event, Written Written)> _batch = [];
    private bool _flushing;
    private int _eventsSinceSnapshot;

    private readonly JournalSync _sync;

    public Mailbox(string account, MaildirStore maildir, IBlobStore blobs, bool quotaTempfail, JournalSync sync)
    {
        _sync = sync;
        _quotaTempfail = quotaTempfail;
        _account = account;
        _maildir = maildir;
        _blobs = blobs;
        PersistenceId = $"mailbox-{account}";
    }

    public override string PersistenceId { get; }

    /// <summary>How long a mailbox without watchers stays in memory after its last message (the region does not passivate it).</summary>
    private static readonly TimeSpan IdleAfter = TimeSpan.FromMinutes(2);

    protected override void PreStart()
    {
        base.PreStart();
        Context.SetReceiveTimeout(IdleAfter);
    }

    /// <summary>A failure restarts this actor with the same reference and an empty memory: the sessions must watch again.</summary>
    protected override void PreRestart(Exception reason, object message)
    {
        foreach (var watcher in _watchers.Keys)
            watcher.Tell(new MailboxReplies.WatchAgain(_account));
        base.PreRestart(reason, message);
    }

    public static Props Props(string account, MaildirStore maildir, IBlobStore blobs, bool quotaTempfail = true, JournalSync? sync = null) =>
        Akka.Actor.Props.Create(() => new Mailbox(account, maildir, blobs, quotaTempfail, sync ?? JournalSync.Durable));

    protected override void OnRecover(object message)
    {
        switch (message)
        {
            case SnapshotOffer { Snapshot: MailboxSnapshot snapshot }:
                _state = MailboxState.FromSnapshot(snapshot);
                break;
            case RecoveryCompleted:
                CreateDefaults();
                break;
            default:
                _state = _state.Apply(message);
                break;
        }
    }

    /// <summary>
    /// A new mailbox fixes its UIDVALIDITY now, for good, and gets the default folders with their SPECIAL-USE;
    /// a mailbox from before folders gets those it lacks. One journal write.
    /// </summary>
    private void CreateDefaults()
    {
        var events = new List<object>();
        if (_state.UidValidity == 0)
            events.Add(new MailboxEvents.MailboxCreated(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
        var next = NextUidValidity();
        foreach (var (name, use) in MailboxState.Defaults.Where(d => _state.FolderOf(d.Name) is null))
        {
            events.Add(new MailboxEvents.FolderCreated(name, next++, use));
            try
            {
                CreateMaildir(name); // so that Dovecot lists them too
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log.Warning("{0}: cannot make the Maildir of {1}: {2}", _account, name, e.Message);
            }
        }
        if (events.Count > 0)
            PersistAll(events, e => _state = _state.Apply(e));
    }

    /// <summary>A UIDVALIDITY never given to a folder of this mailbox before: the time, or one more than the highest so far.</summary>
    private long NextUidValidity() => Math.Max(DateTimeOffset.UtcNow.ToUnixTimeSeconds(), _state.Folders.Values.Max(f => f.UidValidity) + 1);

    protected override void OnCommand(object message)
    {
        switch (message)
        {
            case MailboxCommands.Deliver busy when _busyKeys.Contains(busy.Key):
                Stash.Stash();
                break;
            case MailboxCommands.Deliver deliver when _state.Delivered.TryGetValue(deliver.Key, out var uid):
                Sender.Tell(new MailboxReplies.Delivered(_account, deliver.Key, uid)); // asked again: once is enough
                break;
            case MailboxCommands.Deliver or MailboxCommands.Append when _writes >= MaxWrites:
                Stash.Stash();
                break;
            case MailboxCommands.Deliver deliver when _state.Started.TryGetValue(deliver.Key, out var name):
                Write(deliver.Key, MailboxState.InboxName, deliver.BlobRef, Prefix(deliver), name, null, Sender); // started before a crash
                break;
            case MailboxCommands.Deliver deliver:
                Start(deliver);
                break;
            case MailboxCommands.Append append:
                OnAppend(append);
                break;
            case Written written:
                OnWritten(written);
                break;
            case AppendsDurable durable:
                OnAppendsDurable(durable);
                break;
            case MailboxCommands.List list:
                Sender.Tell(Listing(MailboxState.Normalize(list.Folder)));
                break;
            case MailboxCommands.Watch watch:
                OnWatch(watch);
                break;
            case MailboxCommands.Unwatch:
                if (_watchers.Remove(Sender))
                    Context.Unwatch(Sender);
                break;
            case Terminated terminated:
                _watchers.Remove(terminated.ActorRef);
                break;
            case ReceiveTimeout:
                // Idle: passivate, unless a session watches (it would only ask again) or work is under way.
                if (_watchers.Count == 0 && _writes == 0 && _batch.Count == 0 && !_flushing && !_expunging)
                    Context.Parent.Tell(new Passivate(PoisonPill.Instance));
                break;
            case MailboxCommands.Store or MailboxCommands.Copy or MailboxCommands.Expunge when _expunging:
                Stash.Stash(); // the expunge looks files up by their flags: no rename meanwhile
                break;
            case MailboxCommands.Store store:
                OnStore(store);
                break;
            case MailboxCommands.Pop3Lock pop3:
                OnPop3Lock(pop3);
                break;
            case MailboxCommands.Expunge expunge:
                OnExpunge(expunge);
                break;
            case Removed removed:
                OnRemoved(removed);
                break;
            case CompactStructures compact:
                OnCompactStructures(compact);
                break;
            case WriteFailed failed:
                _log.Warning("{0}: writing {1} failed: {2}", _account, failed.Key, failed.Reason);
                failed.ReplyTo.Tell(failed.Key.Length > 0
                    ? new MailboxReplies.NotDelivered(_account, failed.Key, failed.Reason)
                    : new MailboxReplies.FolderDone(_account, "[SERVERBUG] The message could not be written."));
                _busyKeys.Remove(failed.Key);
                _writing.Remove(failed.FileName);
                _unjournaled = null; // the file may be in place all the same (a failure after its rename): list again
                WriteDone();
                break;
            case SaveSnapshotSuccess success:
                DeleteSnapshots(new SnapshotSelectionCriteria(success.Metadata.SequenceNr - 1));
                break;
            case SaveSnapshotFailure or DeleteSnapshotsSuccess or DeleteSnapshotsFailure:
                break;
            default:
                if (!OnFolderCommand(message))
                    Unhandled(message);
                break;
        }
    }

    private void Start(MailboxCommands.Deliver deliver)
    {
        long size;
        try
        {
            size = Prefix(deliver).Length + _blobs.Length(deliver.BlobRef); // no open: a segment's reference has it
            if (OverQuota(size, deliver.QuotaBytes) is { } full)
            {
                Sender.Tell(new MailboxReplies.NotDelivered(_account, deliver.Key, full, _quotaTempfail ? "4.2.2" : "5.2.2"));
                return;
            }
        }
        catch (IOException e)
        {
            Sender.Tell(new MailboxReplies.NotDelivered(_account, deliver.Key, e.Message));
            return;
        }
        // The name follows from the key: a delivery asked again after a crash looks for it before writing, so no
        // journal write is needed before the file (DeliveryStarted is only read back from older journals).
        Write(deliver.Key, MailboxState.InboxName, deliver.BlobRef, Prefix(deliver), NameOf(deliver, size), null, Sender);
    }

    /// <summary>Why a message of <paramref name="size"/> does not fit the quota, or null when it does (or there is none).</summary>
    private string? OverQuota(long size, long quota)
    {
        if (quota <= 0)
            return null;
        _usage ??= _maildir.Usage(_account);
        var used = _usage + _writing.Values.Sum(); // files still being written count too
        return used + size > quota ? $"Mailbox full: quota exceeded ({used} of {quota} bytes used, message {size})" : null;
    }

    private static string NameOf(MailboxCommands.Deliver deliver, long size)
    {
        var id = deliver.Key.Split('/')[0];
        var time = Engine.Primitives.QueueId.TryParse(id, out var queueId) ? queueId.Time : DateTimeOffset.UnixEpoch;
        return MaildirStore.NameFor(time, id, deliver.Key, size);
    }

    /// <summary>
    /// Writes the file off the actor's thread and parses it once for its ENVELOPE and BODYSTRUCTURE (which the
    /// actor appends to the folder's structure file); the outcome comes back as a message. The message is read from
    /// the spool into memory once: the file is written from those octets, in one write, and they are parsed, so the
    /// file is not read back (the parse read all of it anyway).
    /// </summary>
    private void Write(string key, string folder, string blobRef, byte[] prefix, string name, IReadOnlyList<string>? flags, IActorRef replyTo)
    {
        _writes++;
        _writing[name] = MaildirStore.SizeOf(name) ?? 0;
        if (key.Length > 0)
            _busyKeys.Add(key);
        var flagged = flags is { Count: > 0 } ? name + _maildir.FlagSuffix(_account, folder, flags) : null;
        var account = _account;
        var maildir = _maildir;
        var blobs = _blobs;
        var log = _log;
        var unjournaled = key.Length > 0 ? _unjournaled ??= Unjournaled() : null;
        Task.Run(async () =>
        {
            // Written before a crash, and still there (another reader may have deleted it since the listing): not again.
            if (unjournaled?.Value.Contains(name) == true && maildir.Find(account, name, folder) is { } found)
                return Structures.Parse(found, log);
            byte[] octets;
            using (var body = blobs.OpenRead(blobRef))
            {
                octets = new byte[checked(prefix.Length + (int)body.Length)];
                prefix.CopyTo(octets, 0);
                body.ReadExactly(octets, prefix.Length, octets.Length - prefix.Length);
            }
            var path = await maildir.WriteAsync(account, name, octets, Stream.Null, folder: folder, flagged: flagged).ConfigureAwait(false);
            return Structures.Parse(octets, path, log);
        }).PipeTo(Self, success: structure => new Written(key, folder, name, flags, replyTo, structure),
            failure: e => new WriteFailed(key, name, replyTo, e.GetBaseException().Message));
    }

    /// <summary>
    /// The INBOX files the journal does not know, listed once by this incarnation at its first delivery: a delivery
    /// whose file was written before a crash and not journaled is not written twice (its name follows from its key).
    /// Later deliveries look up this set instead of the disk, so a delivery does not list a cur/ of 100,000 files.
    /// </summary>
    private Lazy<IReadOnlySet<string>> Unjournaled()
    {
        var known = _state.Inbox.Messages.Values;
        var (maildir, account) = (_maildir, _account);
        return new Lazy<IReadOnlySet<string>>(() =>
        {
            var names = maildir.Names(account);
            names.ExceptWith(known.Select(m => m.FileName));
            return names;
        }, LazyThreadSafetyMode.ExecutionAndPublication); // once; an I/O error ends in WriteFailed, which lists again
    }

    /// <summary>
    /// A file is in place: it takes the folder's next UID at once (so UIDs follow the order of the journal) and
    /// joins the batch that the next journal write takes (group commit: while one write is under way, the files
    /// written meanwhile gather for the next). The queue and the IMAP sessions hear of it only once it is journaled.
    /// </summary>
    private void OnWritten(Written written)
    {
        if (!_writing.Remove(written.FileName) && written.Key.Length > 0 && _state.Delivered.TryGetValue(written.Key, out var uid))
        {
            // Started by this entity before a restart and journaled since: answered, not appended a second time.
            written.ReplyTo.Tell(new MailboxReplies.Delivered(_account, written.Key, uid));
            return;
        }
        var folder = _state.FolderOf(written.Folder);
        if (folder is null)
        {
            // deleted while the APPEND was written: the file went with it
            written.ReplyTo.Tell(new MailboxReplies.FolderDone(_account, "[TRYCREATE] Mailbox doesn't exist."));
            WriteDone();
            return;
        }
        var appended = new MailboxEvents.MessageAppended(written.Key, folder.NextUid, written.FileName,
            written.Folder == MailboxState.InboxName ? null : written.Folder, written.Flags is { Count: > 0 } ? written.Flags : null,
            AppendStructure(folder.Name, folder.NextUid, written.Structure));
        _state = _state.Apply(appended);
        _usage += MaildirStore.SizeOf(appended.FileName) ?? 0;
        _batch.Add((appended, written));
        WriteDone();
        if (!_flushing)
            Flush();
    }

    private void Flush()
    {
        var batch = _batch.ToArray();
        _batch.Clear();
        _flushing = true;
        var left = batch.Length;
        PersistAllAsync(batch.Select(b => b.Event), _ =>
        {
            if (--left > 0)
                return;
            // Journaled, in the kernel's cache: the UIDs are given out (to the queue, an APPENDUID, the IMAP sessions)
            // once the journal's fsync has made them durable, so that a crash of the machine cannot give one of them
            // to another message. The fsync is shared with every writer of the node that asked meanwhile.
            var synced = _sync.SyncAsync();
            if (synced.IsCompletedSuccessfully)
                OnAppendsDurable(new AppendsDurable(batch, null));
            else
                synced.PipeTo(Self, success: () => new AppendsDurable(batch, null), failure: e => new AppendsDurable(batch, e));
        });
    }

    private void OnAppendsDurable(AppendsDurable durable)
    {
        if (durable.Failure is { } failure)
        {
            // Not answered: the queue asks again (delivery-answer-timeout) and finds the delivery in the journal the
            // entity recovers from when it starts again.
            _log.Error(failure, "{0}: the journal could not be synced to disk", PersistenceId);
            throw new IOException($"{PersistenceId}: the journal could not be synced to disk", failure);
        }
        foreach (var (e, written) in durable.Batch)
        {
            var target = _state.Folders.GetValueOrDefault(written.Folder);
            written.ReplyTo.Tell(e.Key.Length > 0
                ? new MailboxReplies.Delivered(_account, e.Key, e.Uid)
                : new MailboxReplies.Appended(_account, target?.UidValidity ?? 0, e.Uid));
            _busyKeys.Remove(e.Key);
            if (target?.Messages.TryGetValue(e.Uid, out var message) == true)
                Notify(written.Folder, [message], [], []);
        }
        _flushing = false;
        CountEvent(durable.Batch.Length);
        if (_batch.Count > 0)
            Flush();
        else
            Stash.UnstashAll(); // a Deliver of a key that was busy
    }

    private MailboxReplies.Listing Listing(string name) => _state.FolderOf(name) is { } folder
        ? new MailboxReplies.Listing(_account, folder.UidValidity, folder.Messages.Values.ToArray(), folder.NextUid, folder.HighestModSeq,
            folder.ExpungedRanges)
        : new MailboxReplies.Listing(_account, 0, [], 0, 0); // UIDVALIDITY 0: no such folder

    private void OnWatch(MailboxCommands.Watch watch)
    {
        var name = MailboxState.Normalize(watch.Folder);
        if (_state.FolderOf(name) is not null)
        {
            if (!_watchers.ContainsKey(Sender))
                Context.Watch(Sender);
            _watchers[Sender] = name;
        }
        Sender.Tell(Listing(name));
    }

    /// <summary>
    /// Sets the flags, renames the files to match (cur/NAME:2,FLAGS, so Dovecot and mutt see the same), and
    /// journals the new flags at one new modseq. A file that cannot be renamed does not stop the change: the
    /// index is what IMAP reads; the name only mirrors it.
    /// </summary>
    private void OnStore(MailboxCommands.Store store)
    {
        var folder = _state.FolderOf(store.Folder);
        var changes = new List<FlagsOf>();
        var modified = new List<long>();
        foreach (var uid in store.Uids.Distinct())
        {
            if (folder is null || !folder.Messages.TryGetValue(uid, out var message))
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
                _maildir.SetFlags(_account, message.FileName, message.Cur, message.FlagList, flags, folder.Name);
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
        // The new flags count at once and the journal write follows (PersistAsync): a STORE is answered before its
        // event is on disk, as Dovecot answers before its index is. Flags are not mail: a crash may lose the last
        // changes, never a message. Events stay in order, so the journal replays to the same state.
        var name = folder!.Name;
        var flagsChanged = new MailboxEvents.FlagsChanged(changes, name == MailboxState.InboxName ? null : name);
        _state = _state.Apply(flagsChanged);
        var changed = changes.Select(m => _state.Folders[name].Messages[m.Uid]).ToArray();
        replyTo.Tell(new MailboxReplies.Stored(_account, changed, modified));
        Notify(name, [], changed, []);
        PersistAsync(flagsChanged, _ => CountEvent());
    }

    private void OnPop3Lock(MailboxCommands.Pop3Lock request)
    {
        var now = DateTime.UtcNow;
        var free = _pop3Lock is not { } held || held.Session == request.Session || held.Until <= now;
        if (request.Release)
        {
            if (_pop3Lock?.Session == request.Session)
                _pop3Lock = null;
            Sender.Tell(new MailboxReplies.Pop3Locked(_account, false));
            return;
        }
        if (free)
            _pop3Lock = (request.Session, now.AddSeconds(request.LeaseSeconds));
        Sender.Tell(new MailboxReplies.Pop3Locked(_account, free));
    }

    /// <summary>Tells every session watching the folder what changed (they may be on any node).</summary>
    private void Notify(string folder, IReadOnlyList<MailMessage> appended, IReadOnlyList<MailMessage> flags, IReadOnlyList<long> expunged,
        bool deleted = false)
    {
        if (_watchers.Count == 0)
            return;
        var highest = _state.FolderOf(folder)?.HighestModSeq ?? 0;
        var changed = new MailboxReplies.Changed(_account, appended, flags, expunged, highest, deleted);
        foreach (var (watcher, watched) in _watchers)
        {
            if (watched == folder)
                watcher.Tell(changed);
        }
    }

    /// <summary>
    /// Deletes the files first, then journals the expunge: a crash in between leaves index entries whose
    /// files are gone (a later read says so), never a file the index forgot (which a reader would show again).
    /// </summary>
    private void OnExpunge(MailboxCommands.Expunge expunge)
    {
        var replyTo = Sender;
        if (_state.FolderOf(expunge.Folder) is not { } folder)
        {
            replyTo.Tell(new MailboxReplies.Expunged(_account, []));
            return;
        }
        var gone = expunge.Uids.Where(folder.Messages.ContainsKey).Distinct().Select(uid => folder.Messages[uid])
            .Where(m => !expunge.OnlyDeleted || m.FlagList.Contains("\\Deleted", StringComparer.OrdinalIgnoreCase)).ToArray();
        if (gone.Length == 0)
        {
            replyTo.Tell(new MailboxReplies.Expunged(_account, []));
            return;
        }
        // File by file: those deleted are journaled even when a later one fails (a file already gone counts as deleted).
        _expunging = true;
        var account = _account;
        var maildir = _maildir;
        var log = _log;
        var name = folder.Name;
        Task.Run(() =>
        {
            var removed = new List<long>();
            foreach (var message in gone)
            {
                try
                {
                    maildir.Delete(account, message.FileName, message.Cur, message.FlagList, name);
                    removed.Add(message.Uid);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    log.Warning("{0}: expunge of uid {1} failed: {2}", account, message.Uid, e.Message);
                }
            }
            return new Removed(name, removed, replyTo);
        }).PipeTo(Self);
    }

    private void OnRemoved(Removed removed)
    {
        _expunging = false;
        Stash.UnstashAll();
        Persist(new MailboxEvents.MessagesExpunged(removed.Uids, removed.Folder == MailboxState.InboxName ? null : removed.Folder), e =>
        {
            if (_state.FolderOf(removed.Folder) is { } folder)
            {
                foreach (var uid in e.Uids)
                    _usage -= folder.Messages.TryGetValue(uid, out var gone) ? gone.Size : 0;
            }
            _state = _state.Apply(e);
            removed.ReplyTo.Tell(new MailboxReplies.Expunged(_account, e.Uids));
            if (e.Uids.Count > 0)
                Notify(removed.Folder, [], [], e.Uids);
            CountEvent();
            Self.Tell(new CompactStructures(removed.Folder));
        });
    }

    /// <summary>The trace headers of a final delivery (RFC 5321 section 4.4; Postfix's Delivered-To).</summary>
    private static byte[] Prefix(MailboxCommands.Deliver deliver) =>
        Encoding.UTF8.GetBytes($"Return-Path: <{deliver.ReturnPath}>\r\nDelivered-To: {deliver.DeliveredTo}\r\n");

    private void WriteDone()
    {
        _writes--;
        Stash.UnstashAll();
    }

    /// <summary>Counts journaled events; every 1000 a snapshot, taken only when no appended message waits for its journal write.</summary>
    private void CountEvent(int events = 1)
    {
        _eventsSinceSnapshot += events;
        if (_eventsSinceSnapshot >= 1000 && !_flushing && _batch.Count == 0)
        {
            _eventsSinceSnapshot = 0;
            SaveSnapshot(_state.ToSnapshot());
        }
    }
}
