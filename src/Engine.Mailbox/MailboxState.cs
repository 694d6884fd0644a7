using System.Collections.Immutable;
using Engine.Messages.Mailbox;

namespace Engine.Mailbox;

/// <summary>
/// A mailbox's index as a pure value. For now: the UID counters and the delivery keys (queue id/account)
/// that are in the mailbox or on their way, so that a delivery asked twice is made once.
/// </summary>
public sealed record MailboxState(long UidValidity, long NextUid, ImmutableDictionary<string, long> Delivered,
    ImmutableDictionary<string, string> Started)
{
    public static MailboxState New(DateTimeOffset now) =>
        new(now.ToUnixTimeSeconds(), 1, ImmutableDictionary<string, long>.Empty, ImmutableDictionary<string, string>.Empty);

    public MailboxState Apply(object e) => e switch
    {
        MailboxEvents.DeliveryStarted started => this with { Started = Started.SetItem(started.Key, started.FileName) },
        MailboxEvents.MessageAppended appended => this with
        {
            Delivered = Delivered.SetItem(appended.Key, appended.Uid),
            Started = Started.Remove(appended.Key),
            NextUid = Math.Max(NextUid, appended.Uid + 1),
        },
        _ => this,
    };

    public MailboxSnapshot ToSnapshot() =>
        new(UidValidity, NextUid, Delivered, Started.Select(s => new PendingDelivery(s.Key, s.Value)).ToArray());

    public static MailboxState FromSnapshot(MailboxSnapshot s) =>
        new(s.UidValidity, s.NextUid, s.Delivered.ToImmutableDictionary(), s.Started.ToImmutableDictionary(p => p.Key, p => p.FileName));
}
