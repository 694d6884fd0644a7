using System.Collections.Immutable;
using Engine.Messages.Mailbox;
using Engine.Storage.Maildir;

namespace Engine.Mailbox;

/// <summary>
/// A mailbox's index as a pure value: the UID counters, the delivery keys (queue id/account) that are in the
/// mailbox or on their way, so that a delivery asked twice is made once, and the messages of INBOX by UID
/// (file name and size). Folders, flags and modseqs come with IMAP.
/// </summary>
public sealed record MailboxState(long UidValidity, long NextUid, ImmutableDictionary<string, long> Delivered,
    ImmutableDictionary<string, string> Started, ImmutableSortedDictionary<long, MailMessage> Messages)
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
            Messages = Messages.SetItem(appended.Uid, new MailMessage(appended.Uid, appended.FileName, MaildirStore.SizeOf(appended.FileName) ?? 0)),
        },
        MailboxEvents.MessagesExpunged expunged => this with { Messages = Messages.RemoveRange(expunged.Uids) },
        _ => this,
    };

    public MailboxSnapshot ToSnapshot() =>
        new(UidValidity, NextUid, Delivered, Started.Select(s => new PendingDelivery(s.Key, s.Value)).ToArray(), Messages.Values.ToArray());

    public static MailboxState FromSnapshot(MailboxSnapshot s) =>
        new(s.UidValidity, s.NextUid, s.Delivered.ToImmutableDictionary(), s.Started.ToImmutableDictionary(p => p.Key, p => p.FileName),
            (s.Messages ?? []).ToImmutableSortedDictionary(m => m.Uid, m => m));
}
