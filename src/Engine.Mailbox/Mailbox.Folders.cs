using Akka.Actor;
using Akka.Event;
using Engine.Messages.Mailbox;
using Engine.Storage.Maildir;

namespace Engine.Mailbox;

/// <summary>Folders (CREATE, DELETE, RENAME, SUBSCRIBE, LIST), APPEND, COPY and MOVE.</summary>
public sealed partial class Mailbox
{
    /// <summary>The modseq of imported messages: 2^32, above what Dovecot's own counters reach.</summary>
    private const long ImportedModSeq = 1L << 32;

    /// <summary>The longest folder name, in UTF-8 octets (a Maildir++ directory name must fit in 255).</summary>
    private const int MaxFolderName = 200;

    private bool OnFolderCommand(object message)
    {
        switch (message)
        {
            case MailboxCommands.Folders:
                Sender.Tell(new MailboxReplies.FolderList(_account, _state.Folders.Values
                    .OrderBy(f => f.Name == MailboxState.InboxName ? 0 : 1).ThenBy(f => f.Name, StringComparer.Ordinal).Select(f => f.Info()).ToArray()));
                return true;
            case MailboxCommands.CreateFolder create:
                OnCreate(create);
                return true;
            case MailboxCommands.DeleteFolder delete:
                OnDelete(delete);
                return true;
            case MailboxCommands.RenameFolder rename:
                OnRename(rename);
                return true;
            case MailboxCommands.Subscribe subscribe:
                if (_state.FolderOf(subscribe.Folder) is not { } folder)
                {
                    Sender.Tell(new MailboxReplies.FolderDone(_account, "[NONEXISTENT] Mailbox doesn't exist."));
                    return true;
                }
                Persisted(new MailboxEvents.FolderSubscribed(folder.Name, subscribe.Subscribed));
                return true;
            case MailboxCommands.Copy copy:
                OnCopy(copy);
                return true;
            case MailboxCommands.Import import:
                OnImport(import);
                return true;
            default:
                return false;
        }
    }

    /// <summary>Journals one folder event and answers "done".</summary>
    private void Persisted(object e)
    {
        var replyTo = Sender;
        Persist(e, done =>
        {
            _state = _state.Apply(done);
            replyTo.Tell(new MailboxReplies.FolderDone(_account, null));
            CountEvent();
        });
    }

    /// <summary>Why a name cannot be a folder, or null: "/"-separated parts, none empty, no '.' (Maildir++'s separator on disk).</summary>
    public static string? InvalidName(string name)
    {
        if (name.Length == 0 || System.Text.Encoding.UTF8.GetByteCount(name) > MaxFolderName)
            return "[CANNOT] Invalid mailbox name length.";
        if (name.Split('/').Any(part => part.Length == 0 || part.StartsWith('~')))
            return "[CANNOT] Invalid mailbox name: empty hierarchy level.";
        if (name.Any(c => c is '.' or '\\' or '*' or '%' || char.IsControl(c)))
            return "[CANNOT] Invalid characters in mailbox name.";
        return null;
    }

    private void OnCreate(MailboxCommands.CreateFolder create)
    {
        var name = MailboxState.Normalize(create.Folder.TrimEnd('/'));
        if (_state.FolderOf(name) is not null)
        {
            Sender.Tell(new MailboxReplies.FolderDone(_account, "[ALREADYEXISTS] Mailbox already exists."));
            return;
        }
        if (InvalidName(name) is { } invalid)
        {
            Sender.Tell(new MailboxReplies.FolderDone(_account, invalid));
            return;
        }
        var events = Parents(name).Where(p => _state.FolderOf(p) is null).Append(name).Select((folder, i) =>
            (object)new MailboxEvents.FolderCreated(folder, NextUidValidity() + i, folder == name ? create.SpecialUse : null)).ToList();
        try
        {
            foreach (MailboxEvents.FolderCreated e in events)
                CreateMaildir(e.Folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("{0}: cannot create folder {1}: {2}", _account, name, e.Message);
            Sender.Tell(new MailboxReplies.FolderDone(_account, "[SERVERBUG] The folder could not be made."));
            return;
        }
        var replyTo = Sender;
        var left = events.Count;
        PersistAll(events, e =>
        {
            _state = _state.Apply(e);
            CountEvent();
            if (--left == 0)
                replyTo.Tell(new MailboxReplies.FolderDone(_account, null));
        });
    }

    /// <summary>The Maildir++ folder with Dovecot's "maildirfolder" marker, so Dovecot lists it too.</summary>
    private void CreateMaildir(string folder)
    {
        var path = _maildir.Ensure(_account, folder);
        File.WriteAllBytes(Path.Combine(path, "maildirfolder"), []);
    }

    /// <summary>"a/b/c" → "a", "a/b".</summary>
    private static IEnumerable<string> Parents(string name)
    {
        for (var i = name.IndexOf('/', StringComparison.Ordinal); i > 0; i = name.IndexOf('/', i + 1))
            yield return name[..i];
    }

    private void OnDelete(MailboxCommands.DeleteFolder delete)
    {
        var name = MailboxState.Normalize(delete.Folder);
        string? error = name == MailboxState.InboxName ? "[CANNOT] INBOX can't be deleted."
            : _state.FolderOf(name) is null ? "[NONEXISTENT] Mailbox doesn't exist."
            : _state.Folders.Keys.Any(k => k.StartsWith(name + "/", StringComparison.Ordinal)) ? "[INUSE] Mailbox has children, delete them first."
            : null;
        if (error is not null)
        {
            Sender.Tell(new MailboxReplies.FolderDone(_account, error));
            return;
        }
        var folder = _state.Folders[name];
        try
        {
            _maildir.DeleteFolder(_account, name);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("{0}: cannot delete folder {1}: {2}", _account, name, e.Message);
            Sender.Tell(new MailboxReplies.FolderDone(_account, "[SERVERBUG] The folder could not be removed."));
            return;
        }
        var replyTo = Sender;
        Persist(new MailboxEvents.FolderDeleted(name), e =>
        {
            _usage -= folder.Messages.Values.Sum(m => m.Size);
            _state = _state.Apply(e);
            replyTo.Tell(new MailboxReplies.FolderDone(_account, null));
            Notify(name, [], [], folder.Messages.Keys.ToArray(), deleted: true);
            foreach (var watcher in _watchers.Where(w => w.Value == name).Select(w => w.Key).ToArray())
                _watchers.Remove(watcher);
            CountEvent();
        });
    }

    private void OnRename(MailboxCommands.RenameFolder rename)
    {
        var from = MailboxState.Normalize(rename.From);
        var to = MailboxState.Normalize(rename.To.TrimEnd('/'));
        string? error = from == MailboxState.InboxName ? "[CANNOT] Renaming INBOX is not supported."
            : _state.FolderOf(from) is null ? "[NONEXISTENT] Mailbox doesn't exist."
            : _state.FolderOf(to) is not null ? "[ALREADYEXISTS] Target mailbox already exists."
            : MailboxState.IsSelfOrChild(to, from) ? "[CANNOT] Can't rename a mailbox under itself."
            : InvalidName(to);
        if (error is not null)
        {
            Sender.Tell(new MailboxReplies.FolderDone(_account, error));
            return;
        }
        var moving = _state.Folders.Keys.Where(k => MailboxState.IsSelfOrChild(k, from)).ToArray();
        var parents = Parents(to).Where(p => _state.FolderOf(p) is null).ToArray();
        try
        {
            foreach (var name in moving)
                _maildir.RenameFolder(_account, name, to + name[from.Length..]);
            foreach (var parent in parents)
                CreateMaildir(parent);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("{0}: cannot rename folder {1}: {2}", _account, from, e.Message);
            Sender.Tell(new MailboxReplies.FolderDone(_account, "[SERVERBUG] The folder could not be renamed."));
            return;
        }
        var events = parents.Select((p, i) => (object)new MailboxEvents.FolderCreated(p, NextUidValidity() + i))
            .Append(new MailboxEvents.FolderRenamed(from, to)).ToList();
        var replyTo = Sender;
        var left = events.Count;
        PersistAll(events, e =>
        {
            _state = _state.Apply(e);
            CountEvent();
            if (--left > 0)
                return;
            // Sessions with a renamed folder selected are told it is gone (as for DELETE): their UIDs and names no longer hold.
            foreach (var (watcher, watched) in _watchers.ToArray())
            {
                if (!MailboxState.IsSelfOrChild(watched, from))
                    continue;
                watcher.Tell(new MailboxReplies.Changed(_account, [], [], [], 0, Deleted: true));
                _watchers.Remove(watcher);
            }
            replyTo.Tell(new MailboxReplies.FolderDone(_account, null));
        });
    }

    private void OnAppend(MailboxCommands.Append append)
    {
        if (_state.FolderOf(append.Folder) is not { } folder)
        {
            Sender.Tell(new MailboxReplies.FolderDone(_account, "[TRYCREATE] Mailbox doesn't exist."));
            return;
        }
        long size;
        try
        {
            using var body = _blobs.OpenRead(append.BlobRef);
            size = body.Length;
        }
        catch (IOException e)
        {
            Sender.Tell(new MailboxReplies.FolderDone(_account, "[SERVERBUG] " + e.Message));
            return;
        }
        if (OverQuota(size, append.QuotaBytes) is not null)
        {
            Sender.Tell(new MailboxReplies.FolderDone(_account, "[OVERQUOTA] Quota exceeded (mailbox for user is full)."));
            return;
        }
        var name = _maildir.NewName(size, DateTimeOffset.FromUnixTimeSeconds(append.InternalDate));
        Write("", folder.Name, append.BlobRef, [], name, append.Flags, Sender);
    }

    /// <summary>
    /// COPY and MOVE link (or copy) each file into the target's cur/ under a new name; then one event records the
    /// new UIDs (and, for MOVE, that the source's are gone), and only then does MOVE remove the source files, so a
    /// crash in between leaves a message in both places, never in neither.
    /// </summary>
    private void OnCopy(MailboxCommands.Copy copy)
    {
        var from = _state.FolderOf(copy.From);
        var to = _state.FolderOf(copy.To);
        if (from is null || to is null)
        {
            Sender.Tell(new MailboxReplies.FolderDone(_account, to is null ? "[TRYCREATE] Mailbox doesn't exist." : "[NONEXISTENT] Mailbox doesn't exist."));
            return;
        }
        var copied = new List<CopiedMessage>();
        var sources = new List<string>();
        var uid = to.NextUid;
        using var structures = new StructureFile.Reader(_maildir.PathOf(_account, from.Name));
        foreach (var source in copy.Uids.Distinct().Order().Where(from.Messages.ContainsKey).Select(u => from.Messages[u]))
        {
            var path = _maildir.Locate(_account, source.FileName, source.Cur, source.FlagList, from.Name);
            if (path is null)
                continue; // gone from the disk: nothing to copy
            var name = _maildir.NewName(source.Size, MaildirStore.TimeOf(source.FileName));
            try
            {
                _maildir.Copy(path, _account, to.Name, name + _maildir.FlagSuffix(_account, to.Name, source.FlagList));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log.Warning("{0}: copy of uid {1} failed: {2}", _account, source.Uid, e.Message);
                continue;
            }
            var structure = source.Cache is { } offset ? structures.Read(offset, source.Uid) : null;
            copied.Add(new CopiedMessage(source.Uid, uid, name, AppendStructure(to.Name, uid, structure ?? Structures.Parse(path, _log))));
            uid++;
            sources.Add(path);
        }
        var replyTo = Sender;
        if (copied.Count == 0)
        {
            replyTo.Tell(new MailboxReplies.Copied(_account, to.UidValidity, [], []));
            return;
        }
        Persist(new MailboxEvents.MessagesCopied(from.Name, to.Name, copied, copy.Move), e =>
        {
            if (!e.Move)
                _usage += e.Messages.Sum(c => from.Messages[c.Uid].Size);
            _state = _state.Apply(e);
            var target = _state.Folders[to.Name];
            replyTo.Tell(new MailboxReplies.Copied(_account, target.UidValidity, e.Messages.Select(c => c.Uid).ToArray(),
                e.Messages.Select(c => c.NewUid).ToArray()));
            Notify(to.Name, e.Messages.Select(c => target.Messages[c.NewUid]).ToArray(), [], []);
            if (e.Move)
            {
                foreach (var path in sources)
                {
                    try
                    {
                        File.Delete(path);
                    }
                    catch (Exception failure) when (failure is IOException or UnauthorizedAccessException)
                    {
                        _log.Warning("{0}: moved message left at {1}: {2}", _account, path, failure.Message);
                    }
                }
                Notify(from.Name, [], [], e.Messages.Select(c => c.Uid).ToArray());
                Self.Tell(new CompactStructures(from.Name));
            }
            CountEvent();
        });
    }

    /// <summary>
    /// Migration from Dovecot: reads the tree (<see cref="DovecotMaildir"/>), links its files into this Maildir,
    /// then journals one <see cref="MailboxEvents.FolderImported"/> per folder with the UIDVALIDITY, UIDs, flags
    /// and keywords Dovecot had, so clients keep their caches. Only into a mailbox without messages.
    /// </summary>
    private void OnImport(MailboxCommands.Import import)
    {
        if (_state.Folders.Values.Any(f => f.Messages.Count > 0))
        {
            Sender.Tell(new MailboxReplies.FolderDone(_account, "[CANNOT] The mailbox has messages already; import into a new mailbox."));
            return;
        }
        var events = new List<object>();
        try
        {
            foreach (var folder in DovecotMaildir.Read(import.Path, NextUidValidity()))
            {
                if (folder.Name != MailboxState.InboxName && InvalidName(folder.Name) is not null)
                    continue;
                foreach (var m in folder.Messages)
                    _maildir.Import(m.Path, _account, folder.Name, m.BaseName, m.Flags);
                if (folder.Name != MailboxState.InboxName)
                    CreateMaildir(folder.Name);
                if (File.Exists(StructureFile.PathIn(_maildir.PathOf(_account, folder.Name))))
                    File.Delete(StructureFile.PathIn(_maildir.PathOf(_account, folder.Name))); // of an import that failed before
                var use = _state.FolderOf(folder.Name)?.SpecialUse;
                // Modseqs start above any Dovecot could have given (its index is not read), so a CONDSTORE or QRESYNC client
                // that kept Dovecot's HIGHESTMODSEQ sees every message as changed and fetches all flags again.
                var messages = folder.Messages.Select(m => new MailMessage(m.Uid, m.BaseName, m.Size, m.Flags.Count > 0 ? m.Flags : null, ImportedModSeq,
                    m.Flags.Count > 0, AppendStructure(folder.Name, m.Uid, Structures.Parse(m.Path, _log)))).ToArray();
                events.Add(new MailboxEvents.FolderImported(new FolderSnapshot(folder.Name, folder.UidValidity, folder.NextUid,
                    ImportedModSeq, messages, use, folder.Subscribed, CacheRecords: messages.Count(m => m.Cache is not null))));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Sender.Tell(new MailboxReplies.FolderDone(_account, "[CANNOT] " + e.Message));
            return;
        }
        var replyTo = Sender;
        var left = events.Count;
        _usage = null;
        PersistAll(events, e =>
        {
            _state = _state.Apply(e);
            if (--left == 0)
            {
                SaveSnapshot(_state.ToSnapshot()); // a large import should not be replayed event by event
                replyTo.Tell(new MailboxReplies.FolderDone(_account, null));
            }
        });
    }
}
