using Akka.Cluster.Sharding;

namespace Engine.Messages.Mailbox;

/// <summary>A message for the mailbox entity of one account (a virtual user's address, lower case).</summary>
public interface IMailboxMessage : IEngineMessage
{
    string Account { get; }
}

public static class MailboxCommands
{
    /// <summary>
    /// Put a queued message into the account's Maildir. <paramref name="Key"/> ("queue id/account") makes
    /// it idempotent: the same key is delivered once, however often it is asked. <paramref name="QuotaBytes"/>
    /// is the account's quota from the directory (0: none).
    /// </summary>
    public sealed record Deliver(string Account, string Key, string BlobRef, string ReturnPath, string DeliveredTo, long QuotaBytes = 0)
        : IMailboxMessage;

    /// <summary>What a folder holds: its UIDVALIDITY and every message (a POP3 or IMAP session opening it); null Folder is INBOX.</summary>
    public sealed record List(string Account, string? Folder = null) : IMailboxMessage;

    /// <summary>
    /// Remove these messages (POP3's UPDATE state; IMAP's EXPUNGE). With <paramref name="OnlyDeleted"/> (IMAP) only those
    /// that have \Deleted in the mailbox now: a session's view may be older than another session's -FLAGS (\Deleted).
    /// </summary>
    public sealed record Expunge(string Account, IReadOnlyList<long> Uids, string? Folder = null, bool OnlyDeleted = false) : IMailboxMessage;

    /// <summary>Every folder with its counters (IMAP LIST, LSUB, STATUS): answered with <see cref="MailboxReplies.FolderList"/>.</summary>
    public sealed record Folders(string Account) : IMailboxMessage;

    /// <summary>IMAP CREATE (with its SPECIAL-USE, RFC 6154): answered with <see cref="MailboxReplies.FolderDone"/>.</summary>
    public sealed record CreateFolder(string Account, string Folder, string? SpecialUse = null) : IMailboxMessage;

    /// <summary>IMAP DELETE: the folder and its messages (its children stay).</summary>
    public sealed record DeleteFolder(string Account, string Folder) : IMailboxMessage;

    /// <summary>IMAP RENAME, children with it; RENAME of INBOX moves its messages to a new folder (RFC 9051 section 6.3.6).</summary>
    public sealed record RenameFolder(string Account, string From, string To) : IMailboxMessage;

    /// <summary>IMAP SUBSCRIBE and UNSUBSCRIBE.</summary>
    public sealed record Subscribe(string Account, string Folder, bool Subscribed) : IMailboxMessage;

    /// <summary>
    /// IMAP APPEND: the message's octets are in the spool at <paramref name="BlobRef"/> (the session wrote them
    /// there); answered with <see cref="MailboxReplies.Appended"/> or <see cref="MailboxReplies.FolderDone"/> (failure).
    /// </summary>
    public sealed record Append(string Account, string Folder, string BlobRef, IReadOnlyList<string> Flags, long InternalDate, long QuotaBytes = 0)
        : IMailboxMessage;

    /// <summary>
    /// Migration from Dovecot (<c>engine mailbox import</c>): the Maildir++ tree at <paramref name="Path"/> becomes this
    /// mailbox, keeping UIDVALIDITY, UIDs, flags and keywords; only into a mailbox without messages. Answered with
    /// <see cref="MailboxReplies.FolderDone"/>.
    /// </summary>
    public sealed record Import(string Account, string Path) : IMailboxMessage;

    /// <summary>
    /// A POP3 session asks for the maildrop's lock (RFC 1939's exclusive access), for <paramref name="LeaseSeconds"/>
    /// (renewed by asking again), or gives it back with <paramref name="Release"/>. The lock is kept in memory only:
    /// a session that dies without releasing holds it until its lease ends. Answered with <see cref="MailboxReplies.Pop3Locked"/>.
    /// </summary>
    public sealed record Pop3Lock(string Account, string Session, bool Release = false, long LeaseSeconds = 600) : IMailboxMessage;

    /// <summary>IMAP COPY and MOVE (RFC 6851): answered with <see cref="MailboxReplies.Copied"/> or a failed <see cref="MailboxReplies.FolderDone"/>.</summary>
    public sealed record Copy(string Account, string From, IReadOnlyList<long> Uids, string To, bool Move) : IMailboxMessage;

    /// <summary>
    /// An IMAP session opens the mailbox: answered with a <see cref="MailboxReplies.Listing"/>, and from then
    /// on the sender is told every change (<see cref="MailboxReplies.Changed"/>) until it sends
    /// <see cref="Unwatch"/> or stops.
    /// </summary>
    public sealed record Watch(string Account, string? Folder = null) : IMailboxMessage;

    /// <summary>The sender no longer wants the mailbox's changes.</summary>
    public sealed record Unwatch(string Account) : IMailboxMessage;

    /// <summary>
    /// IMAP STORE: set, add or remove flags and keywords of these messages. With <paramref name="UnchangedSince"/>
    /// (CONDSTORE) a message whose modseq is higher is left alone and reported as modified.
    /// </summary>
    public sealed record Store(string Account, IReadOnlyList<long> Uids, FlagChange Change, IReadOnlyList<string> Flags, long? UnchangedSince = null,
        string? Folder = null) : IMailboxMessage;
}

/// <summary>A folder as LIST and STATUS show it.</summary>
public sealed record FolderInfo(string Name, string? SpecialUse, bool Subscribed, long UidValidity, long UidNext, long HighestModSeq, int Messages,
    int Unseen, long Size) : IEngineMessage;

/// <summary>How STORE changes flags: FLAGS, +FLAGS or -FLAGS.</summary>
public enum FlagChange
{
    Replace,
    Add,
    Remove,
}

public static class MailboxReplies
{
    public sealed record Delivered(string Account, string Key, long Uid) : IEngineMessage;

    /// <summary>
    /// A failure with its enhanced status: 4.x.x the queue retries later (4.2.2 a full mailbox), 5.x.x it
    /// bounces (5.2.2 a full mailbox when quota-full-tempfail is off).
    /// </summary>
    public sealed record NotDelivered(string Account, string Key, string Reason, string Status = "4.3.0") : IEngineMessage;

    public sealed record Listing(string Account, long UidValidity, IReadOnlyList<MailMessage> Messages, long NextUid = 0, long HighestModSeq = 0,
        IReadOnlyList<ExpungedRange>? Expunged = null) : IEngineMessage;

    /// <summary>What a STORE changed (the messages with their new flags and modseq), and what it left alone as modified since UNCHANGEDSINCE.</summary>
    public sealed record Stored(string Account, IReadOnlyList<MailMessage> Changed, IReadOnlyList<long> Modified) : IEngineMessage;

    /// <summary>
    /// Told to every watching session by a mailbox entity that restarts after a failure (same actor, empty memory):
    /// its watchers are forgotten, so each must send Watch again (and gets a fresh listing).
    /// </summary>
    public sealed record WatchAgain(string Account) : IEngineMessage;

    /// <summary>
    /// Told to every watching session after a change is journaled: messages appended, messages whose flags
    /// changed (with their new flags and modseq), messages expunged, and the mailbox's HIGHESTMODSEQ after it.
    /// </summary>
    public sealed record Changed(string Account, IReadOnlyList<MailMessage> Appended, IReadOnlyList<MailMessage> FlagsChanged,
        IReadOnlyList<long> Expunged, long HighestModSeq, bool Deleted = false) : IEngineMessage;

    /// <summary>The folders of a mailbox (INBOX first).</summary>
    public sealed record FolderList(string Account, IReadOnlyList<FolderInfo> Folders) : IEngineMessage;

    /// <summary>
    /// The outcome of a folder command: <paramref name="Error"/> null when done, else the text after "NO", with its response
    /// code ("[ALREADYEXISTS] ...", "[NONEXISTENT] ...").
    /// </summary>
    public sealed record FolderDone(string Account, string? Error) : IEngineMessage;

    /// <summary>Whether the session holds the POP3 lock now.</summary>
    public sealed record Pop3Locked(string Account, bool Granted) : IEngineMessage;

    /// <summary>APPEND done: APPENDUID's UIDVALIDITY and UID (RFC 4315).</summary>
    public sealed record Appended(string Account, long UidValidity, long Uid) : IEngineMessage;

    /// <summary>COPY or MOVE done: COPYUID's UIDVALIDITY of the target and the UIDs, source and new, in pairs.</summary>
    public sealed record Copied(string Account, long UidValidity, IReadOnlyList<long> From, IReadOnlyList<long> To) : IEngineMessage;

    /// <summary>The messages that are gone now (those of the request that were there).</summary>
    public sealed record Expunged(string Account, IReadOnlyList<long> Uids) : IEngineMessage;
}

/// <summary>
/// A message in the mailbox index: its IMAP UID, its Maildir file name (as delivered, without flags), size,
/// flags and keywords (system flags with their backslash), the modseq of its last change (RFC 7162), and
/// whether its file has moved to cur/ (where the name carries the flags, ":2,FS"), and where its ENVELOPE and
/// BODYSTRUCTURE are in the folder's structure file (an offset in <c>engine.cache</c>; null when it has none).
/// </summary>
public sealed record MailMessage(long Uid, string FileName, long Size, IReadOnlyList<string>? Flags = null, long ModSeq = 0, bool Cur = false,
    long? Cache = null)
    : IEngineMessage
{
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<string> FlagList => Flags ?? [];
}

public static class MailboxEvents
{
    /// <summary>The mailbox's first event: its UIDVALIDITY, which must never change while its UIDs stand.</summary>
    public sealed record MailboxCreated(long UidValidity) : IEngineMessage;

    /// <summary>Written before the file: after a crash the mailbox knows which name to look for.</summary>
    public sealed record DeliveryStarted(string Key, string FileName) : IEngineMessage;

    /// <summary>
    /// The file is in the folder (INBOX when null) and has its IMAP UID: a delivery (in new/, its key kept so it is made
    /// once), or an APPEND (empty key; in cur/ when it has flags). <paramref name="Cache"/>: the offset of its parsed
    /// structure in the folder's structure file.
    /// </summary>
    public sealed record MessageAppended(string Key, long Uid, string FileName, string? Folder = null, IReadOnlyList<string>? Flags = null,
        long? Cache = null) : IEngineMessage;

    /// <summary>
    /// The folder's structure file was rewritten with only the records of its messages: these UIDs have their
    /// records at these offsets now, the others none.
    /// </summary>
    public sealed record StructuresCompacted(string? Folder, IReadOnlyList<long> Uids, IReadOnlyList<long> Offsets) : IEngineMessage;

    /// <summary>These messages' files are deleted and they leave the index.</summary>
    public sealed record MessagesExpunged(IReadOnlyList<long> Uids, string? Folder = null) : IEngineMessage;

    /// <summary>These messages have these flags now (their files moved to cur/ with the flags in the name), at one new modseq.</summary>
    public sealed record FlagsChanged(IReadOnlyList<FlagsOf> Messages, string? Folder = null) : IEngineMessage;

    /// <summary>A folder exists, with its UIDVALIDITY and SPECIAL-USE.</summary>
    public sealed record FolderCreated(string Folder, long UidValidity, string? SpecialUse = null) : IEngineMessage;

    /// <summary>A folder and its messages are gone (its files first).</summary>
    public sealed record FolderDeleted(string Folder) : IEngineMessage;

    /// <summary>A folder and its children have new names (their Maildirs were renamed first).</summary>
    public sealed record FolderRenamed(string From, string To) : IEngineMessage;

    public sealed record FolderSubscribed(string Folder, bool Subscribed) : IEngineMessage;

    /// <summary>A folder imported whole (its files linked into the Maildir first), replacing any empty folder of that name.</summary>
    public sealed record FolderImported(FolderSnapshot Folder) : IEngineMessage;

    /// <summary>
    /// Messages copied (hard links in the target's cur/) or moved (renamed there, and gone from the source) into
    /// another folder, with their new UIDs and names.
    /// </summary>
    public sealed record MessagesCopied(string From, string To, IReadOnlyList<CopiedMessage> Messages, bool Move) : IEngineMessage;
}

/// <summary>One message of a COPY or MOVE: its UID in the source, and its UID, file name and structure record in the target.</summary>
public sealed record CopiedMessage(long Uid, long NewUid, string FileName, long? Cache = null) : IEngineMessage;

/// <summary>One message's flags after a STORE.</summary>
public sealed record FlagsOf(long Uid, IReadOnlyList<string> Flags) : IEngineMessage;

/// <summary>A delivery whose file may or may not have been written when the node stopped.</summary>
public sealed record PendingDelivery(string Key, string FileName) : IEngineMessage;

/// <summary>
/// A mailbox's state: UID counters, delivered keys (for dedupe), deliveries in flight and the index of messages.
/// The first fields are INBOX's (as they were before folders); <paramref name="Folders"/> holds the others.
/// </summary>
public sealed record MailboxSnapshot(long UidValidity, long NextUid, IReadOnlyDictionary<string, long> Delivered,
    IReadOnlyList<PendingDelivery> Started, IReadOnlyList<MailMessage>? Messages = null, long HighestModSeq = 0,
    IReadOnlyList<FolderSnapshot>? Folders = null, bool InboxSubscribed = true, IReadOnlyList<ExpungedRange>? InboxExpunged = null,
    long InboxCacheRecords = 0) : IEngineMessage;

/// <summary>A folder other than INBOX in a snapshot; <paramref name="CacheRecords"/>: how many records its structure file holds, live or not.</summary>
public sealed record FolderSnapshot(string Name, long UidValidity, long NextUid, long HighestModSeq, IReadOnlyList<MailMessage> Messages,
    string? SpecialUse, bool Subscribed, IReadOnlyList<ExpungedRange>? Expunged = null, long CacheRecords = 0) : IEngineMessage;

/// <summary>UIDs <paramref name="From"/> to <paramref name="To"/> were expunged at <paramref name="ModSeq"/> (kept for QRESYNC's VANISHED, RFC 7162).</summary>
public sealed record ExpungedRange(long From, long To, long ModSeq) : IEngineMessage;

/// <summary>Routes mailbox messages by account.</summary>
public sealed class MailboxExtractor(int shards) : HashCodeMessageExtractor(shards)
{
    public const string TypeName = "mailbox";

    public override string? EntityId(object message) => (message as IMailboxMessage)?.Account.ToLowerInvariant();
}

/// <summary>The key of the mailbox shard region in the host's actor registry.</summary>
public sealed class MailboxRegionKey;
