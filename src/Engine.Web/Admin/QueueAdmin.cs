using System.Text;
using Akka.Actor;
using Engine.Messages.Queue;
using Engine.Primitives;
using Engine.Storage.Accounts;
using Engine.Storage.Blobs;

namespace Engine.Web.Admin;

/// <summary>
/// The queue as the operators see it: every partition asked through the shard region, so a listing covers the
/// partitions of every node, and commands go to the partition that owns each message (postqueue and postsuper
/// for the whole farm).
/// </summary>
public sealed class QueueAdmin(Func<Task<IActorRef>> region, IBlobStore blobs, Func<DirectorySnapshot> directory, AdminSettings settings)
{
    /// <summary>The most of a message's text "show" returns.</summary>
    public const int ShowLimit = 64 * 1024;

    /// <summary>
    /// The API's view of a queued message: each address the queue has a state for (a recipient, or an alias target
    /// it was sent on to: delivered, bounced, deferred); the other targets of its recipients as the directory resolves
    /// them now, "pending"; and each recipient that is an alias, "expanded" (its targets are the rows above).
    /// </summary>
    public QueueEntry EntryOf(QueuedMessage m)
    {
        var rows = new List<RecipientState>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var address in m.DeliveredTo.Concat(m.BouncedTo).Concat(m.DeferralOf.Keys))
        {
            if (!seen.Add(address))
                continue;
            rows.Add(m.DeliveredTo.Contains(address, StringComparer.OrdinalIgnoreCase) ? new RecipientState(address, "delivered")
                : m.BouncedTo.Contains(address, StringComparer.OrdinalIgnoreCase) ? new RecipientState(address, "bounced", m.BounceReplyOf.GetValueOrDefault(address))
                : new RecipientState(address, "deferred", m.DeferralOf[address].Reply, m.DeferralOf[address].Attempts));
        }
        var snapshot = directory();
        var aliases = new List<RecipientState>();
        foreach (var recipient in m.Envelope.Recipients.Select(r => r.Address))
        {
            var targets = snapshot.TargetsOf(recipient);
            var alias = !targets.Contains(recipient, StringComparer.OrdinalIgnoreCase) && targets.Count > 0;
            foreach (var target in alias ? targets : [recipient])
            {
                if (seen.Add(target))
                    rows.Add(new RecipientState(target, "pending"));
            }
            if (alias && seen.Add(recipient))
                aliases.Add(new RecipientState(recipient, "expanded"));
        }
        rows.AddRange(aliases);
        return new QueueEntry(m.Id.Value, m.State.ToString().ToLowerInvariant(), m.Envelope.ArrivedAt, m.Envelope.Size, m.Envelope.Sender, rows,
            m.NextAttemptAt, m.Reason);
    }


    /// <summary>
    /// The messages a query matches on every partition, in order of arrival: the first <paramref name="offset"/> +
    /// <paramref name="limit"/> of each partition are fetched page by page (each page small enough for remoting), then
    /// merged. The total counts every match.
    /// </summary>
    public async Task<(int Total, IReadOnlyList<QueuedMessage> Messages)> FindAsync(QueueQuery query, int offset, int limit, CancellationToken cancel)
    {
        var shards = await region().ConfigureAwait(false);
        var wanted = (int)Math.Min((long)offset + limit, int.MaxValue);
        var parts = await Task.WhenAll(Enumerable.Range(0, settings.QueuePartitions).Select(p => PartitionAsync(shards, p, query, wanted, cancel)))
            .ConfigureAwait(false);
        var merged = parts.SelectMany(p => p.Messages).OrderBy(m => m.Envelope.ArrivedAt).ThenBy(m => m.Id.Value, StringComparer.Ordinal);
        return (parts.Sum(p => p.Total), merged.Skip(offset).Take(limit).ToArray());
    }

    private async Task<(int Total, List<QueuedMessage> Messages)> PartitionAsync(IActorRef shards, int partition, QueueQuery query, int wanted,
        CancellationToken cancel)
    {
        var messages = new List<QueuedMessage>();
        var total = 0;
        do
        {
            var page = await shards.Ask<QueueReplies.MessagesResult>(new QueueCommands.GetMessages(partition, query, messages.Count,
                Math.Min(PageSize, wanted - messages.Count)), settings.AskTimeout, cancel).ConfigureAwait(false);
            total = page.Total;
            if (page.Messages.Count == 0)
                break;
            messages.AddRange(page.Messages);
        }
        while (messages.Count < Math.Min(total, wanted));
        return (total, messages);
    }

    /// <summary>The most messages one ask for a page returns (the partition cuts a page short when it grows large).</summary>
    private const int PageSize = 500;

    /// <summary>The most ids one command may name (larger selections go by filter, or in several requests).</summary>
    public const int MaxIds = 10_000;

    /// <summary>How many messages each queue holds on every partition (active: those with a delivery under way).</summary>
    public async Task<IReadOnlyDictionary<string, int>> CountsAsync(CancellationToken cancel)
    {
        var states = Enum.GetValues<QueueState>();
        var totals = await Task.WhenAll(states.Select(s => FindAsync(new QueueQuery(State: s), 0, 0, cancel))).ConfigureAwait(false);
        return states.Zip(totals).ToDictionary(p => p.First.ToString().ToLowerInvariant(), p => p.Second.Total);
    }

    public async Task<QueueListing> ListAsync(QueueQuery query, int offset, int limit, CancellationToken cancel)
    {
        var (total, messages) = await FindAsync(query, offset, limit, cancel).ConfigureAwait(false);
        return new QueueListing(total, offset, messages.Select(EntryOf).ToArray());
    }

    public async Task<MessageDetail?> ShowAsync(string id, CancellationToken cancel)
    {
        if (!QueueId.TryParse(id, out var queueId))
            return null;
        var shards = await region().ConfigureAwait(false);
        var answer = await shards.Ask<QueueReplies.MessagesResult>(new QueueCommands.GetMessages(queueId.Partition(settings.QueuePartitions),
            new QueueQuery(Id: queueId)), settings.AskTimeout, cancel).ConfigureAwait(false);
        if (answer.Messages.FirstOrDefault(m => m.Id == queueId) is not { } message)
            return null;
        var (headers, body, truncated) = ReadText(message.BlobRef);
        var envelope = message.Envelope;
        return new MessageDetail(EntryOf(message), envelope.Client.Address, envelope.Client.Name, envelope.Client.Helo, envelope.Client.Protocol,
            envelope.EnvId, envelope.Ret.ToString().ToLowerInvariant(), envelope.SmtpUtf8, envelope.Filter, headers, body, truncated);
    }

    /// <summary>The header and the start of the body, as text (invalid UTF-8 replaced); a missing body is empty.</summary>
    private (string Headers, string Body, bool Truncated) ReadText(string blobRef)
    {
        var buffer = new byte[ShowLimit + 1];
        var read = 0;
        try
        {
            using var stream = blobs.OpenRead(blobRef);
            for (int n; read < buffer.Length && (n = stream.Read(buffer, read, buffer.Length - read)) > 0;)
                read += n;
        }
        catch (IOException)
        {
            return ("", "", false); // gone (delivered and removed meanwhile, or corrupt)
        }
        var text = Encoding.UTF8.GetString(buffer, 0, Math.Min(read, ShowLimit));
        var split = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        return split < 0 ? (text, "", read > ShowLimit) : (text[..(split + 2)], text[(split + 4)..], read > ShowLimit);
    }

    /// <summary>The ids a selection means: those listed, or every message its filter (or "all") matches; none for an empty selection.</summary>
    public async Task<IReadOnlyList<QueueId>> SelectAsync(QueueSelection selection, CancellationToken cancel)
    {
        if (selection.Ids is { Count: > 0 } ids)
        {
            if (ids.Count > MaxIds)
                throw new FormatException($"at most {MaxIds} ids at once; name more by a filter or in several requests");
            if (selection.HasFilter || selection.All)
                throw new FormatException("name ids or a filter, not both");
            return ids.Select(id => QueueId.TryParse(id, out var q) ? q : throw new FormatException($"'{id}' is not a queue id")).ToArray();
        }
        if (!selection.HasFilter && !selection.All)
            return [];
        var query = QueueFilter.Query(selection.Queue, selection.Sender, selection.Recipient, selection.Domain, selection.MinAge, DateTimeOffset.UtcNow);
        return (await FindAsync(query, 0, int.MaxValue, cancel).ConfigureAwait(false)).Messages.Select(m => m.Id).ToArray();
    }

    /// <summary>Sends one command per message to its partition, a bounded number at a time, and adds up the changes.</summary>
    public async Task<int> ApplyAsync(IReadOnlyList<QueueId> ids, Func<int, QueueId, IQueuePartitionMessage> command, CancellationToken cancel)
    {
        var shards = await region().ConfigureAwait(false);
        var changed = 0;
        foreach (var batch in ids.Chunk(64))
        {
            var answers = await Task.WhenAll(batch.Select(id =>
                shards.Ask<QueueReplies.Changed>(command(id.Partition(settings.QueuePartitions), id), settings.AskTimeout, cancel))).ConfigureAwait(false);
            changed += answers.Sum(a => a.Count);
        }
        return changed;
    }

    /// <summary>postqueue -f (every partition) and -s site.</summary>
    public async Task<int> FlushAllAsync(string? site, CancellationToken cancel)
    {
        var shards = await region().ConfigureAwait(false);
        var answers = await Task.WhenAll(Enumerable.Range(0, settings.QueuePartitions).Select(p =>
            shards.Ask<QueueReplies.Changed>(new QueueCommands.Flush(p, Site: site), settings.AskTimeout, cancel))).ConfigureAwait(false);
        return answers.Sum(a => a.Count);
    }
}
