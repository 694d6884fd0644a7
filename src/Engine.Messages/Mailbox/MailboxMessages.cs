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

    /// <summary>What the mailbox holds: its UIDVALIDITY and every message (a POP3 or IMAP session opening it).</summary>
    public sealed record List(string Account) : IMailboxMessage;

    /// <summary>Remove these messages (POP3's UPDATE state; IMAP's EXPUNGE).</summary>
    public sealed record Expunge(string Account, IReadOnlyList<long> Uids) : IMailboxMessage;

    /// <summary>
    /// An IMAP session opens the mailbox: answered with a <see cref="MailboxReplies.Listing"/>, and from then
    /// on the sender is told every change (<see cref="MailboxReplies.Changed"/>) until it sends
    /// <see cref="Unwatch"/> or stops.
    /// </summary>
    public sealed record Watch(string Account) : IMailboxMessage;

    /// <summary>The sender no longer wants the mailbox's changes.</summary>
    public sealed record Unwatch(string Account) : IMailboxMessage;

    /// <summary>
    /// IMAP STORE: set, add or remove flags and keywords of these messages. With <paramref name="UnchangedSince"/>
    /// (CONDSTORE) a message whose modseq is higher is left alone and reported as modified.
    /// </summary>
    public sealed record Store(string Account, IReadOnlyList<long> Uids, FlagChange Change, IReadOnlyList<string> Flags, long? UnchangedSince = null)
        : IMailboxMessage;
}

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

    public sealed record Listing(string Account, long UidValidity, IReadOnlyList<MailMessage> Messages, long NextUid = 0, long HighestModSeq = 0)
        : IEngineMessage;

    /// <summary>What a STORE changed (the messages with their new flags and modseq), and what it left alone as modified since UNCHANGEDSINCE.</summary>
    public sealed record Stored(string Account, IReadOnlyList<MailMessage> Changed, IReadOnlyList<long> Modified) : IEngineMessage;

    /// <summary>
    /// Told to every watching session after a change is journaled: messages appended, messages whose flags
    /// changed (with their new flags and modseq), messages expunged, and the mailbox's HIGHESTMODSEQ after it.
    /// </summary>
    public sealed record Changed(string Account, IReadOnlyList<MailMessage> Appended, IReadOnlyList<MailMessage> FlagsChanged,
        IReadOnlyList<long> Expunged, long HighestModSeq) : IEngineMessage;

    /// <summary>The messages that are gone now (those of the request that were there).</summary>
    public sealed record Expunged(string Account, IReadOnlyList<long> Uids) : IEngineMessage;
}

/// <summary>
/// A message in the mailbox index: its IMAP UID, its Maildir file name (as delivered, without flags), size,
/// flags and keywords (system flags with their backslash), the modseq of its last change (RFC 7162), and
/// whether its file has moved to cur/ (where the name carries the flags, ":2,FS").
/// </summary>
public sealed record MailMessage(long Uid, string FileName, long Size, IReadOnlyList<string>? Flags = null, long ModSeq = 0, bool Cur = false)
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

    /// <summary>The file is in new/ and has its IMAP UID.</summary>
    public sealed record MessageAppended(string Key, long Uid, string FileName) : IEngineMessage;

    /// <summary>These messages' files are deleted and they leave the index.</summary>
    public sealed record MessagesExpunged(IReadOnlyList<long> Uids) : IEngineMessage;

    /// <summary>These messages have these flags now (their files moved to cur/ with the flags in the name), at one new modseq.</summary>
    public sealed record FlagsChanged(IReadOnlyList<FlagsOf> Messages) : IEngineMessage;
}

/// <summary>One message's flags after a STORE.</summary>
public sealed record FlagsOf(long Uid, IReadOnlyList<string> Flags) : IEngineMessage;

/// <summary>A delivery whose file may or may not have been written when the node stopped.</summary>
public sealed record PendingDelivery(string Key, string FileName) : IEngineMessage;

/// <summary>A mailbox's state: UID counters, delivered keys (for dedupe), deliveries in flight and the index of messages.</summary>
public sealed record MailboxSnapshot(long UidValidity, long NextUid, IReadOnlyDictionary<string, long> Delivered,
    IReadOnlyList<PendingDelivery> Started, IReadOnlyList<MailMessage>? Messages = null, long HighestModSeq = 0) : IEngineMessage;

/// <summary>Routes mailbox messages by account.</summary>
public sealed class MailboxExtractor(int shards) : HashCodeMessageExtractor(shards)
{
    public const string TypeName = "mailbox";

    public override string? EntityId(object message) => (message as IMailboxMessage)?.Account.ToLowerInvariant();
}

/// <summary>The key of the mailbox shard region in the host's actor registry.</summary>
public sealed class MailboxRegionKey;
