using System.Text;
using Akka.Actor;
using Engine.Messages.Queue;
using Engine.Primitives;
using Engine.Storage.Blobs;

namespace Engine.Web.Admin;

/// <summary>
/// The queue as the operators see it: every partition asked through the shard region, so a listing covers the
/// partitions of every node, and commands go to the partition that owns each message (postqueue and postsuper
/// for the whole farm).
/// </summary>
public sealed class QueueAdmin(Func<Task<IActorRef>> region, IBlobStore blobs, AdminSettings settings)
{
    /// <summary>The most of a message's text "show" returns.</summary>
    public const int ShowLimit = 64 * 1024;

    /// <summary>The API's view of a queued message: each recipient and alias target with its state.</summary>
    public static QueueEntry EntryOf(QueuedMessage m)
    {
        var rows = new List<RecipientState>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var address in m.Envelope.Recipients.Select(r => r.Address).Concat(m.DeliveredTo).Concat(m.BouncedTo).Concat(m.DeferralOf.Keys))
        {
            if (!seen.Add(address))
                continue;
            rows.Add(m.DeliveredTo.Contains(address, StringComparer.OrdinalIgnoreCase) ? new RecipientState(address, "delivered")
                : m.BouncedTo.Contains(address, StringComparer.OrdinalIgnoreCase) ? new RecipientState(address, "bounced", m.BounceReplyOf.GetValueOrDefault(address))
                : m.DeferralOf.TryGetValue(address, out var deferral) ? new RecipientState(address, "deferred", deferral.Reply, deferral.Attempts)
                : new RecipientState(address, "pending"));
        }
        return new QueueEntry(m.Id.Value, m.State.ToString().ToLowerInvariant(), m.Envelope.ArrivedAt, m.Envelope.Size, m.Envelope.Sender, rows,
            m.NextAttemptAt, m.Reason);
    }

    /// <summary>The filter of a selection (a bad queue name or age is a <see cref="FormatException"/>).</summary>
    public static QueueFilter FilterOf(QueueSelection s) =>
        new(QueueFilter.ParseQueue(s.Queue), s.Sender, s.Recipient, s.Domain, QueueFilter.ParseAge(s.MinAge));

    public async Task<IReadOnlyList<QueuedMessage>> AllAsync(CancellationToken cancel)
    {
        var shards = await region().ConfigureAwait(false);
        var answers = await Task.WhenAll(Enumerable.Range(0, settings.QueuePartitions).Select(p =>
            shards.Ask<QueueReplies.MessagesResult>(new QueueCommands.GetMessages(p), settings.AskTimeout, cancel))).ConfigureAwait(false);
        return answers.SelectMany(a => a.Messages).OrderBy(m => m.Envelope.ArrivedAt).ThenBy(m => m.Id.Value, StringComparer.Ordinal).ToArray();
    }

    public async Task<QueueListing> ListAsync(QueueFilter filter, int offset, int limit, CancellationToken cancel)
    {
        var now = DateTimeOffset.UtcNow;
        var matching = (await AllAsync(cancel).ConfigureAwait(false)).Where(m => filter.Matches(m, now)).ToArray();
        return new QueueListing(matching.Length, offset, matching.Skip(offset).Take(limit).Select(EntryOf).ToArray());
    }

    public async Task<MessageDetail?> ShowAsync(string id, CancellationToken cancel)
    {
        if (!QueueId.TryParse(id, out var queueId))
            return null;
        var shards = await region().ConfigureAwait(false);
        var partition = queueId.Partition(settings.QueuePartitions);
        var answer = await shards.Ask<QueueReplies.MessagesResult>(new QueueCommands.GetMessages(partition), settings.AskTimeout, cancel).ConfigureAwait(false);
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
        if (!blobs.Exists(blobRef))
            return ("", "", false);
        using var stream = blobs.OpenRead(blobRef);
        var buffer = new byte[ShowLimit + 1];
        var read = 0;
        for (int n; read < buffer.Length && (n = stream.Read(buffer, read, buffer.Length - read)) > 0;)
            read += n;
        var text = Encoding.UTF8.GetString(buffer, 0, Math.Min(read, ShowLimit));
        var split = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        return split < 0 ? (text, "", read > ShowLimit) : (text[..(split + 2)], text[(split + 4)..], read > ShowLimit);
    }

    /// <summary>The ids a selection means: those listed, or those the filter matches.</summary>
    public async Task<IReadOnlyList<QueueId>> SelectAsync(QueueSelection selection, CancellationToken cancel)
    {
        if (selection.Ids is { Count: > 0 } ids)
            return ids.Select(id => QueueId.TryParse(id, out var q) ? q : throw new FormatException($"'{id}' is not a queue id")).ToArray();
        if (!selection.HasFilter && !selection.All)
            return [];
        var now = DateTimeOffset.UtcNow;
        var filter = FilterOf(selection);
        return (await AllAsync(cancel).ConfigureAwait(false)).Where(m => filter.Matches(m, now)).Select(m => m.Id).ToArray();
    }

    /// <summary>Sends one command per message to its partition and adds up the changes.</summary>
    public async Task<int> ApplyAsync(IReadOnlyList<QueueId> ids, Func<int, QueueId, IQueuePartitionMessage> command, CancellationToken cancel)
    {
        var shards = await region().ConfigureAwait(false);
        var answers = await Task.WhenAll(ids.Select(id =>
            shards.Ask<QueueReplies.Changed>(command(id.Partition(settings.QueuePartitions), id), settings.AskTimeout, cancel))).ConfigureAwait(false);
        return answers.Sum(a => a.Count);
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
