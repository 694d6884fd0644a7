using System.Collections.Immutable;
using Engine.Messages.Mailbox;
using Engine.Storage.Maildir;

namespace Engine.Mailbox;

/// <summary>
/// One folder of a mailbox: its UIDVALIDITY, next UID, HIGHESTMODSEQ, SPECIAL-USE, subscription, and its
/// messages by UID (file name, size, flags, modseq, structure record). Every change in it (append, flags, expunge)
/// takes the folder's next modseq (RFC 7162). <paramref name="CacheRecords"/> counts the records in its structure
/// file, of messages still here or not: when most are dead, the file is compacted.
/// </summary>
public sealed record Folder(string Name, long UidValidity, long NextUid, long HighestModSeq, ImmutableSortedDictionary<long, MailMessage> Messages,
    string? SpecialUse = null, bool Subscribed = true, ImmutableList<ExpungedRange>? Expunged = null, long CacheRecords = 0)
{
    /// <summary>The UIDs expunged so far, as ranges with the modseq of their expunge (for QRESYNC's VANISHED).</summary>
    public ImmutableList<ExpungedRange> ExpungedRanges => Expunged ?? [];

    public static Folder New(string name, long uidValidity, string? specialUse = null) =>
        new(name, uidValidity, 1, 0, ImmutableSortedDictionary<long, MailMessage>.Empty, specialUse);

    public Folder Add(IEnumerable<MailMessage> messages)
    {
        var modseq = HighestModSeq + 1;
        var added = messages.Select(m => m with { ModSeq = modseq }).ToArray();
        return this with
        {
            HighestModSeq = modseq,
            NextUid = Math.Max(NextUid, added.Length == 0 ? 0 : added.Max(m => m.Uid) + 1),
            Messages = Messages.SetItems(added.Select(m => KeyValuePair.Create(m.Uid, m))),
            CacheRecords = CacheRecords + added.Count(m => m.Cache is not null),
        };
    }

    /// <summary>The structure file holds only these records now.</summary>
    public Folder Compacted(IReadOnlyList<long> uids, IReadOnlyList<long> offsets)
    {
        var at = uids.Select((uid, i) => (uid, offsets[i])).ToDictionary(p => p.uid, p => p.Item2);
        return this with
        {
            Messages = Messages.SetItems(Messages.Values.Select(m => KeyValuePair.Create(m.Uid, m with { Cache = at.TryGetValue(m.Uid, out var o) ? o : null }))),
            CacheRecords = at.Count,
        };
    }

    /// <summary>Whether most of the structure file's records are of messages gone (and it is worth rewriting).</summary>
    public bool CacheWasteful => CacheRecords > 1000 && CacheRecords > 2 * Messages.Count;

    public Folder Remove(IEnumerable<long> uids)
    {
        var modseq = HighestModSeq + 1;
        var ranges = new List<ExpungedRange>();
        foreach (var uid in uids.Where(Messages.ContainsKey).Distinct().Order())
        {
            if (ranges.Count > 0 && ranges[^1].To == uid - 1)
                ranges[^1] = ranges[^1] with { To = uid };
            else
                ranges.Add(new ExpungedRange(uid, uid, modseq));
        }
        return this with { Messages = Messages.RemoveRange(uids), HighestModSeq = modseq, Expunged = ExpungedRanges.AddRange(ranges) };
    }

    public FolderInfo Info() => new(Name, SpecialUse, Subscribed, UidValidity, NextUid, HighestModSeq, Messages.Count,
        Messages.Values.Count(m => !m.FlagList.Contains("\\Seen", StringComparer.OrdinalIgnoreCase)), Messages.Values.Sum(m => m.Size));
}

/// <summary>
/// A mailbox's index as a pure value: its folders (INBOX always), and the delivery keys (queue id/account)
/// that are in the mailbox or on their way, so that a delivery asked twice is made once.
/// </summary>
public sealed record MailboxState(ImmutableDictionary<string, long> Delivered, ImmutableDictionary<string, string> Started,
    ImmutableSortedDictionary<string, Folder> Folders)
{
    public const string InboxName = MaildirStore.Inbox;

    /// <summary>The folders every new mailbox has, with their SPECIAL-USE (RFC 6154).</summary>
    public static readonly IReadOnlyList<(string Name, string SpecialUse)> Defaults =
        [("Drafts", "\\Drafts"), ("Sent", "\\Sent"), ("Trash", "\\Trash"), ("Junk", "\\Junk"), ("Archive", "\\Archive")];

    /// <summary>A mailbox before its first event: UIDVALIDITY 0 means "not created yet" (see <see cref="MailboxEvents.MailboxCreated"/>).</summary>
    public static readonly MailboxState Empty =
        new(ImmutableDictionary<string, long>.Empty, ImmutableDictionary<string, string>.Empty,
            ImmutableSortedDictionary.Create<string, Folder>(StringComparer.Ordinal).Add(InboxName, Folder.New(InboxName, 0)));

    public Folder Inbox => Folders[InboxName];

    public long UidValidity => Inbox.UidValidity;

    public long NextUid => Inbox.NextUid;

    public long HighestModSeq => Inbox.HighestModSeq;

    public ImmutableSortedDictionary<long, MailMessage> Messages => Inbox.Messages;

    /// <summary>The folder's key: INBOX in any case is INBOX; other names are case-sensitive.</summary>
    public static string Normalize(string? folder) =>
        folder is null || folder.Equals(InboxName, StringComparison.OrdinalIgnoreCase) ? InboxName : folder;

    public Folder? FolderOf(string? name) => Folders.GetValueOrDefault(Normalize(name));

    private MailboxState With(Folder folder) => this with { Folders = Folders.SetItem(folder.Name, folder) };

    public MailboxState Apply(object e) => e switch
    {
        MailboxEvents.MailboxCreated created => With(Inbox with { UidValidity = created.UidValidity }),
        MailboxEvents.DeliveryStarted started => this with { Started = Started.SetItem(started.Key, started.FileName) },
        MailboxEvents.MessageAppended appended when FolderOf(appended.Folder) is { } folder => (appended.Key.Length == 0
            ? this
            : this with { Delivered = Delivered.SetItem(appended.Key, appended.Uid), Started = Started.Remove(appended.Key) }).With(folder.Add(
            [new MailMessage(appended.Uid, appended.FileName, MaildirStore.SizeOf(appended.FileName) ?? 0, appended.Flags, Cur: appended.Flags is { Count: > 0 },
                Cache: appended.Cache)])),
        MailboxEvents.StructuresCompacted compacted when FolderOf(compacted.Folder) is { } folder => With(folder.Compacted(compacted.Uids, compacted.Offsets)),
        MailboxEvents.MessagesExpunged expunged when FolderOf(expunged.Folder) is { } folder => With(folder.Remove(expunged.Uids)),
        MailboxEvents.FlagsChanged changed when FolderOf(changed.Folder) is { } folder => With(folder with
        {
            HighestModSeq = folder.HighestModSeq + 1,
            Messages = folder.Messages.SetItems(changed.Messages.Where(m => folder.Messages.ContainsKey(m.Uid)).Select(m =>
                KeyValuePair.Create(m.Uid, folder.Messages[m.Uid] with { Flags = m.Flags, ModSeq = folder.HighestModSeq + 1, Cur = true }))),
        }),
        MailboxEvents.FolderCreated created => With(Folder.New(created.Folder, created.UidValidity, created.SpecialUse)),
        MailboxEvents.FolderDeleted deleted => this with { Folders = Folders.Remove(deleted.Folder) },
        MailboxEvents.FolderRenamed renamed => this with
        {
            Folders = Folders.SetItems(Folders.Values.Where(f => IsSelfOrChild(f.Name, renamed.From)).Select(f =>
            {
                var name = renamed.To + f.Name[renamed.From.Length..];
                return KeyValuePair.Create(name, f with { Name = name });
            })).RemoveRange(Folders.Keys.Where(k => IsSelfOrChild(k, renamed.From))),
        },
        MailboxEvents.FolderSubscribed subscribed when FolderOf(subscribed.Folder) is { } folder => With(folder with { Subscribed = subscribed.Subscribed }),
        MailboxEvents.FolderImported imported => With(new Folder(Normalize(imported.Folder.Name), imported.Folder.UidValidity, imported.Folder.NextUid,
            imported.Folder.HighestModSeq, imported.Folder.Messages.ToImmutableSortedDictionary(m => m.Uid, m => m), imported.Folder.SpecialUse,
            imported.Folder.Subscribed, imported.Folder.Expunged?.ToImmutableList(), imported.Folder.CacheRecords)),
        MailboxEvents.MessagesCopied copied when FolderOf(copied.From) is { } from && FolderOf(copied.To) is { } to => ApplyCopy(copied, from, to),
        _ => this,
    };

    private MailboxState ApplyCopy(MailboxEvents.MessagesCopied copied, Folder from, Folder to)
    {
        var messages = copied.Messages.Where(c => from.Messages.ContainsKey(c.Uid)).Select(c =>
            new MailMessage(c.NewUid, c.FileName, from.Messages[c.Uid].Size, from.Messages[c.Uid].Flags, Cur: true, Cache: c.Cache)).ToArray();
        var state = With(to.Add(messages));
        return copied.Move ? state.With(state.Folders[from.Name].Remove(copied.Messages.Select(c => c.Uid))) : state;
    }

    /// <summary>"Work" is "Work" itself or "Work/..." below it.</summary>
    public static bool IsSelfOrChild(string name, string folder) =>
        name == folder || name.StartsWith(folder + "/", StringComparison.Ordinal);

    /// <summary>The flags a message has after a STORE of <paramref name="flags"/> (flags compared without case, as IMAP does).</summary>
    public static IReadOnlyList<string> Changed(IReadOnlyList<string> current, FlagChange change, IReadOnlyList<string> flags) => change switch
    {
        FlagChange.Replace => flags.Distinct(StringComparer.OrdinalIgnoreCase).ToArray(),
        FlagChange.Add => current.Concat(flags).Distinct(StringComparer.OrdinalIgnoreCase).ToArray(),
        _ => current.Where(f => !flags.Contains(f, StringComparer.OrdinalIgnoreCase)).ToArray(),
    };

    public MailboxSnapshot ToSnapshot() =>
        new(UidValidity, NextUid, Delivered, Started.Select(s => new PendingDelivery(s.Key, s.Value)).ToArray(), Messages.Values.ToArray(), HighestModSeq,
            Folders.Values.Where(f => f.Name != InboxName)
                .Select(f => new FolderSnapshot(f.Name, f.UidValidity, f.NextUid, f.HighestModSeq, f.Messages.Values.ToArray(), f.SpecialUse, f.Subscribed,
                    f.ExpungedRanges, f.CacheRecords))
                .ToArray(), Inbox.Subscribed, Inbox.ExpungedRanges, Inbox.CacheRecords);

    public static MailboxState FromSnapshot(MailboxSnapshot s)
    {
        var inbox = new Folder(InboxName, s.UidValidity, s.NextUid, s.HighestModSeq, (s.Messages ?? []).ToImmutableSortedDictionary(m => m.Uid, m => m),
            null, s.InboxSubscribed, s.InboxExpunged?.ToImmutableList(), s.InboxCacheRecords);
        var folders = (s.Folders ?? []).Select(f => new Folder(f.Name, f.UidValidity, f.NextUid, f.HighestModSeq,
            f.Messages.ToImmutableSortedDictionary(m => m.Uid, m => m), f.SpecialUse, f.Subscribed, f.Expunged?.ToImmutableList(), f.CacheRecords)).Prepend(inbox);
        return new MailboxState(s.Delivered.ToImmutableDictionary(), s.Started.ToImmutableDictionary(p => p.Key, p => p.FileName),
            folders.ToImmutableSortedDictionary(f => f.Name, f => f, StringComparer.Ordinal));
    }
}
