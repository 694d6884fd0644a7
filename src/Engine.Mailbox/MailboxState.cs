using System.Collections.Immutable;
using Engine.Messages.Mailbox;
using Engine.Storage.Maildir;

namespace Engine.Mailbox;

/// <summary>
/// A mailbox's index as a pure value: the UID counters and HIGHESTMODSEQ, the delivery keys (queue id/account)
/// that are in the mailbox or on their way, so that a delivery asked twice is made once, and the messages of
/// INBOX by UID (file name, size, flags, modseq). Every change (append, flags, expunge) takes the next modseq.
/// Folders come next.
/// </summary>
public sealed record MailboxState(long UidValidity, long NextUid, ImmutableDictionary<string, long> Delivered,
    ImmutableDictionary<string, string> Started, ImmutableSortedDictionary<long, MailMessage> Messages, long HighestModSeq = 0)
{
    /// <summary>A mailbox before its first event: UIDVALIDITY 0 means "not created yet" (see <see cref="MailboxEvents.MailboxCreated"/>).</summary>
    public static readonly MailboxState Empty =
        new(0, 1, ImmutableDictionary<string, long>.Empty, ImmutableDictionary<string, string>.Empty,
            ImmutableSortedDictionary<long, MailMessage>.Empty);

    public MailboxState Apply(object e) => e switch
    {
        MailboxEvents.MailboxCreated created => this with { UidValidity = created.UidValidity },
        MailboxEvents.DeliveryStarted started => this with { Started = Started.SetItem(started.Key, started.FileName) },
        MailboxEvents.MessageAppended appended => this with
        {
            Delivered = Delivered.SetItem(appended.Key, appended.Uid),
            Started = Started.Remove(appended.Key),
            NextUid = Math.Max(NextUid, appended.Uid + 1),
            HighestModSeq = HighestModSeq + 1,
            Messages = Messages.SetItem(appended.Uid,
                new MailMessage(appended.Uid, appended.FileName, MaildirStore.SizeOf(appended.FileName) ?? 0, ModSeq: HighestModSeq + 1)),
        },
        MailboxEvents.MessagesExpunged expunged => this with { Messages = Messages.RemoveRange(expunged.Uids), HighestModSeq = HighestModSeq + 1 },
        MailboxEvents.FlagsChanged changed => this with
        {
            HighestModSeq = HighestModSeq + 1,
            Messages = Messages.SetItems(changed.Messages.Where(m => Messages.ContainsKey(m.Uid)).Select(m =>
                KeyValuePair.Create(m.Uid, Messages[m.Uid] with { Flags = m.Flags, ModSeq = HighestModSeq + 1, Cur = true }))),
        },
        _ => this,
    };

    /// <summary>The flags a message has after a STORE of <paramref name="flags"/> (flags compared without case, as IMAP does).</summary>
    public static IReadOnlyList<string> Changed(IReadOnlyList<string> current, FlagChange change, IReadOnlyList<string> flags) => change switch
    {
        FlagChange.Replace => flags.Distinct(StringComparer.OrdinalIgnoreCase).ToArray(),
        FlagChange.Add => current.Concat(flags).Distinct(StringComparer.OrdinalIgnoreCase).ToArray(),
        _ => current.Where(f => !flags.Contains(f, StringComparer.OrdinalIgnoreCase)).ToArray(),
    };

    public MailboxSnapshot ToSnapshot() =>
        new(UidValidity, NextUid, Delivered, Started.Select(s => new PendingDelivery(s.Key, s.Value)).ToArray(), Messages.Values.ToArray(), HighestModSeq);

    public static MailboxState FromSnapshot(MailboxSnapshot s) =>
        new(s.UidValidity, s.NextUid, s.Delivered.ToImmutableDictionary(), s.Started.ToImmutableDictionary(p => p.Key, p => p.FileName),
            (s.Messages ?? []).ToImmutableSortedDictionary(m => m.Uid, m => m), s.HighestModSeq);
}
