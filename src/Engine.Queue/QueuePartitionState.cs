using System.Collections.Immutable;
using Engine.Messages.Queue;
using Engine.Primitives;
using Engine.Storage.Accounts;

namespace Engine.Queue;

/// <summary>
/// What one partition holds, as a pure value: events in, new state out. The actor only persists and applies.
/// </summary>
public sealed record QueuePartitionState(ImmutableDictionary<QueueId, QueuedMessage> Messages)
{
    public static readonly QueuePartitionState Empty = new(ImmutableDictionary<QueueId, QueuedMessage>.Empty);

    public bool Contains(QueueId id) => Messages.ContainsKey(id);

    public QueuePartitionState Apply(object e) => e switch
    {
        QueueEvents.MessageQueued q when !Messages.ContainsKey(q.Id) =>
            new(Messages.Add(q.Id, new QueuedMessage(q.Id, q.Envelope, q.BlobRef, QueueState.Incoming))),
        QueueEvents.RecipientDelivered d when Messages.TryGetValue(d.Id, out var m) && !m.DeliveredTo.Contains(d.Account) =>
            new(Messages.SetItem(d.Id, m with { Delivered = [.. m.DeliveredTo, d.Account] })),
        QueueEvents.MessageRemoved r => new(Messages.Remove(r.Id)),
        _ => this,
    };

    public QueueSnapshot ToSnapshot() => new(Messages.Values.OrderBy(m => m.Id.Value, StringComparer.Ordinal).ToArray());

    public static QueuePartitionState FromSnapshot(QueueSnapshot snapshot) =>
        new(snapshot.Messages.ToImmutableDictionary(m => m.Id));

    /// <summary>
    /// The local mailboxes a message still has to reach: each recipient resolved through the directory
    /// (alias, subaddress, catch-all) to accounts of virtual users, less those already delivered. An
    /// account reached through two recipients gets one copy. Pairs are (account, the recipient it came from).
    /// </summary>
    public static IReadOnlyList<(string Account, string Recipient)> LocalTargets(QueuedMessage message, DirectorySnapshot directory)
    {
        var targets = new List<(string, string)>();
        var seen = new HashSet<string>(message.DeliveredTo, StringComparer.OrdinalIgnoreCase);
        foreach (var recipient in message.Envelope.Recipients)
        {
            foreach (var account in Resolve(recipient.Address, directory).Where(a => directory.FindUser(a) is not null))
            {
                if (seen.Add(account))
                    targets.Add((account, recipient.Address));
            }
        }
        return targets;
    }

    /// <summary>
    /// True when every recipient has reached its mailboxes. Recipients for other domains, or aliases to
    /// remote addresses, wait for remote delivery (the Destination entity, not built yet), so such a
    /// message is never complete here.
    /// </summary>
    public static bool IsComplete(QueuedMessage message, DirectorySnapshot directory)
    {
        foreach (var recipient in message.Envelope.Recipients)
        {
            var accounts = Resolve(recipient.Address, directory);
            if (accounts.Count == 0 || accounts.Any(a => directory.FindUser(a) is null || !message.DeliveredTo.Contains(a, StringComparer.OrdinalIgnoreCase)))
                return false;
        }
        return true;
    }

    private static IReadOnlyList<string> Resolve(string address, DirectorySnapshot directory)
    {
        var at = address.LastIndexOf('@');
        if (at <= 0)
            return [];
        var resolution = directory.Resolve(new EmailAddress(address[..at], address[(at + 1)..]));
        return resolution.Kind == RecipientKind.Accepted ? resolution.Targets.Select(t => t.ToLowerInvariant()).ToArray() : [];
    }
}
