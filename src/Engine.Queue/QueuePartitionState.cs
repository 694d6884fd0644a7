using System.Collections.Immutable;
using Engine.Messages;
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
            new(Messages.Add(q.Id, q.Hold is null ? new QueuedMessage(q.Id, q.Envelope, q.BlobRef, QueueState.Incoming)
                : new QueuedMessage(q.Id, q.Envelope, q.BlobRef, QueueState.Hold) { Reason = q.Hold })),
        QueueEvents.RecipientDelivered d when Messages.TryGetValue(d.Id, out var m) && !m.DeliveredTo.Contains(d.Account) =>
            new(Messages.SetItem(d.Id, m with
            {
                Delivered = [.. m.DeliveredTo, d.Account],
                Deferrals = Without(m, d.Account),
                Successes = d.Notice is { } notice ? new Dictionary<string, string>(m.SuccessOf) { [d.Account] = notice } : m.Successes,
            })),
        QueueEvents.RecipientBounced b when Messages.TryGetValue(b.Id, out var m) && !m.BouncedTo.Contains(b.Target) =>
            new(Messages.SetItem(b.Id, m with
            {
                Bounced = [.. m.BouncedTo, b.Target],
                BounceReplies = new Dictionary<string, string>(m.BounceReplyOf) { [b.Target] = b.Reply },
                Deferrals = Without(m, b.Target),
            })),
        QueueEvents.MessageDeferred d when Messages.TryGetValue(d.Id, out var m) =>
            new(Messages.SetItem(d.Id, m with
            {
                State = m.State is QueueState.Hold or QueueState.Corrupt ? m.State : QueueState.Deferred,
                Deferrals = Deferred(m, d.Replies),
                NextAttemptAt = d.NextAttemptAt,
            })),
        QueueEvents.DelayWarned w when Messages.TryGetValue(w.Id, out var m) => new(Messages.SetItem(w.Id, m with { DelayWarned = true })),
        QueueEvents.MessageHeld h when Messages.TryGetValue(h.Id, out var m) && !IsStandIn(m) =>
            new(Messages.SetItem(h.Id, m with { State = QueueState.Hold, Reason = h.Reason })),
        QueueEvents.MessageReleased r when Messages.TryGetValue(r.Id, out var m) && m.State == QueueState.Hold && !IsStandIn(m) =>
            new(Messages.SetItem(r.Id, m with
            {
                State = m.DeferralOf.Count > 0 ? QueueState.Deferred : QueueState.Incoming,
                Reason = null,
                NextAttemptAt = null,
            })),
        QueueEvents.MessageRequeued q when Messages.TryGetValue(q.Id, out var m) && !IsStandIn(m) =>
            new(Messages.SetItem(q.Id, m with { State = QueueState.Incoming, Reason = null, NextAttemptAt = null, Deferrals = null })),
        QueueEvents.MessageCorrupt c when Messages.TryGetValue(c.Id, out var m) =>
            new(Messages.SetItem(c.Id, m with { State = QueueState.Corrupt, Reason = c.Reason, NextAttemptAt = null })),
        QueueEvents.BounceQueued q when Messages.TryGetValue(q.Id, out var m) =>
            new(Messages.SetItem(q.Id, m with { Notified = [.. m.NotifiedOf, .. q.Targets.Except(m.NotifiedOf)] })),
        QueueEvents.SuccessReported s when Messages.TryGetValue(s.Id, out var m) =>
            new(Messages.SetItem(s.Id, m with { Reported = [.. m.ReportedOf, .. s.Reported.Except(m.ReportedOf)] })),
        QueueEvents.MessageRemoved r => new(Messages.Remove(r.Id)),
        _ => this,
    };

    /// <summary>
    /// A message known only by its id and body, whose first journal record could not be read: in the corrupt queue, with no
    /// recipients (nothing can be sent), arrived when its id says, so that operators see it, and the spool keeps its body.
    /// </summary>
    public QueuePartitionState WithUnreadable(QueueId id, string blobRef, string reason) =>
        new(Messages.SetItem(id, new QueuedMessage(id, new Envelope("", [], BodyType.SevenBit, false, DsnReturn.Unspecified, null,
            new ClientInfo("unknown", "unknown", "unknown", "unknown"), id.Time, 0), blobRef, QueueState.Corrupt)
        { Reason = reason }));

    /// <summary>
    /// A stand-in for a message whose first record could not be read (<see cref="WithUnreadable"/>): no recipients (a real
    /// message has one at least). It stays in the corrupt queue whatever later events say, and only a delete removes it:
    /// with no recipients it would otherwise count as complete, and go with its body.
    /// </summary>
    public static bool IsStandIn(QueuedMessage message) => message.Envelope.Recipients.Count == 0;

    private static IReadOnlyDictionary<string, Deferral>? Without(QueuedMessage m, string target) =>
        m.Deferrals is { } d && d.ContainsKey(target)
            ? d.Where(x => x.Key != target).ToDictionary() is { Count: > 0 } left ? left : null
            : m.Deferrals;

    private static Dictionary<string, Deferral> Deferred(QueuedMessage m, IReadOnlyDictionary<string, string> replies)
    {
        var deferrals = new Dictionary<string, Deferral>(m.DeferralOf);
        foreach (var (target, reply) in replies)
            deferrals[target] = new Deferral((deferrals.GetValueOrDefault(target)?.Attempts ?? 0) + 1, reply);
        return deferrals;
    }

    /// <summary>The targets of a message that are deferred now: not delivered or bounced since their last failure.</summary>
    public static IReadOnlyList<string> DeferredTargets(QueuedMessage message) =>
        message.DeferralOf.Keys.Except(message.DeliveredTo).Except(message.BouncedTo).ToArray();

    public QueueSnapshot ToSnapshot() => new(Messages.Values.OrderBy(m => m.Id.Value, StringComparer.Ordinal).ToArray());

    public static QueuePartitionState FromSnapshot(QueueSnapshot snapshot) =>
        new(snapshot.Messages.ToImmutableDictionary(m => m.Id));

    /// <summary>
    /// Where a message still has to go: each recipient resolved through the directory (alias, subaddress,
    /// catch-all) to targets — accounts of virtual users (<c>Local</c>), or remote addresses (recipients of
    /// other domains, and alias targets outside the directory) — less those delivered or bounced. A target
    /// reached through two recipients is sent once. Pairs are (target, the recipient it came from, local?).
    /// </summary>
    public static IReadOnlyList<(string Target, string Recipient, bool Local)> Targets(QueuedMessage message, DirectorySnapshot directory)
    {
        var targets = new List<(string, string, bool)>();
        var seen = new HashSet<string>(message.DeliveredTo.Concat(message.BouncedTo), StringComparer.OrdinalIgnoreCase);
        foreach (var recipient in message.Envelope.Recipients)
        {
            foreach (var target in directory.TargetsOf(recipient.Address))
            {
                if (seen.Add(target))
                    targets.Add((target, recipient.Address, directory.FindUser(target) is not null));
            }
        }
        return targets;
    }

    /// <summary>Every target of every recipient, reached or not: (target, the recipient it came from).</summary>
    public static IReadOnlyList<(string Target, string Recipient)> AllTargets(QueuedMessage message, DirectorySnapshot directory) =>
        message.Envelope.Recipients.SelectMany(r => directory.TargetsOf(r.Address).Select(t => (t, r.Address))).ToArray();

    /// <summary>
    /// The envelope recipient a target was reached through (the first, when several lead to it), or null; <paramref name="all"/>
    /// is <see cref="AllTargets"/> of the message, worked out once by a caller that asks for several targets.
    /// </summary>
    public static EnvelopeRecipient? RecipientOf(QueuedMessage message, string target, IReadOnlyList<(string Target, string Recipient)> all)
    {
        var origin = all.FirstOrDefault(t => t.Target == target).Recipient ?? target;
        return message.Envelope.Recipients.FirstOrDefault(r => r.Address == origin);
    }

    /// <summary>The local accounts still to reach (see <see cref="Targets"/>).</summary>
    public static IReadOnlyList<(string Account, string Recipient)> LocalTargets(QueuedMessage message, DirectorySnapshot directory) =>
        Targets(message, directory).Where(t => t.Local).Select(t => (t.Target, t.Recipient)).ToArray();

    /// <summary>True when every target of every recipient is delivered or bounced, and every DSN due is queued.</summary>
    public static bool IsComplete(QueuedMessage message, DirectorySnapshot directory) =>
        message.Envelope.Recipients.All(r => directory.TargetsOf(r.Address).Count > 0) && Targets(message, directory).Count == 0
        && PendingBounces(message, directory).Count == 0 && PendingSuccesses(message, directory).Count == 0;

    /// <summary>
    /// The action of the success DSN owed when <paramref name="target"/> is reached by <paramref name="action"/>
    /// ("delivered", "relayed"), or null: only for a recipient whose NOTIFY has SUCCESS, from a sender that is not
    /// &lt;&gt;, and not for the members of an alias that expands to several (that recipient is told "expanded" instead,
    /// RFC 3461 section 6.2.7.3, and the members are not named to the sender).
    /// </summary>
    public static string? SuccessNotice(QueuedMessage message, string target, string? action, DirectorySnapshot directory)
    {
        if (action is null || message.Envelope.Sender.Length == 0 || !message.Envelope.Recipients.Any(r => r.Notify.HasFlag(DsnNotify.Success)))
            return null;
        var recipient = RecipientOf(message, target, AllTargets(message, directory));
        return recipient is not null && recipient.Notify.HasFlag(DsnNotify.Success) && directory.TargetsOf(recipient.Address).Count == 1
            ? action
            : null;
    }

    /// <summary>
    /// What is owed a success DSN not yet queued (RFC 3461 section 4.1, NOTIFY=SUCCESS): each target reached with a
    /// notice (see <see cref="SuccessNotice"/>), and each recipient with SUCCESS that an alias expands to several targets,
    /// from the start ("expanded", as Postfix reports an expansion when it makes it). Triples are (what is reported: the
    /// target, or the expanded recipient; its action; the recipient it came from).
    /// </summary>
    public static IReadOnlyList<(string Reported, string Action, EnvelopeRecipient Recipient)> PendingSuccesses(QueuedMessage message,
        DirectorySnapshot directory)
    {
        if (message.Envelope.Sender.Length == 0 || (message.Successes is null && !message.Envelope.Recipients.Any(r => r.Notify.HasFlag(DsnNotify.Success))))
            return [];
        var pending = new List<(string, string, EnvelopeRecipient)>();
        var reported = message.ReportedOf;
        var all = message.Successes is null ? [] : AllTargets(message, directory);
        foreach (var (target, action) in message.SuccessOf)
        {
            if (!reported.Contains(target))
                pending.Add((target, action, RecipientOf(message, target, all) ?? new EnvelopeRecipient(target, DsnNotify.Success)));
        }
        foreach (var recipient in message.Envelope.Recipients)
        {
            if (recipient.Notify.HasFlag(DsnNotify.Success) && !reported.Contains(recipient.Address) && directory.TargetsOf(recipient.Address).Count > 1)
                pending.Add((recipient.Address, "expanded", recipient));
        }
        return pending;
    }

    /// <summary>The protocol a DSN of this engine is queued with; a DSN that bounces goes to the postmaster.</summary>
    public const string BounceProtocol = "bounce";

    /// <summary>The protocol of the postmaster's copy of a bounced DSN, which is never reported on again.</summary>
    public const string DoubleBounceProtocol = "2bounce";

    /// <summary>
    /// Bounced targets that are owed a DSN not yet queued: not when the recipient's NOTIFY excludes FAILURE
    /// (RFC 3461 section 4.1), and for mail from &lt;&gt; only when it is a DSN of this engine (its copy then
    /// goes to the postmaster, once: a bounce of that copy is dropped, as is any other mail from &lt;&gt;).
    /// </summary>
    public static IReadOnlyList<(string Target, EnvelopeRecipient Recipient)> PendingBounces(QueuedMessage message, DirectorySnapshot directory)
    {
        if (message.Envelope.Sender.Length == 0 && message.Envelope.Client.Protocol != BounceProtocol)
            return [];
        var all = AllTargets(message, directory);
        var pending = new List<(string, EnvelopeRecipient)>();
        foreach (var target in message.BouncedTo.Except(message.NotifiedOf))
        {
            var recipient = RecipientOf(message, target, all) ?? new EnvelopeRecipient(target, DsnNotify.Unspecified);
            var notify = recipient.Notify;
            // A DSN of ours carries NOTIFY=NEVER for the next hop's sake; its postmaster copy is owed regardless.
            var ownDsn = message.Envelope.Sender.Length == 0;
            if (!ownDsn && (notify.HasFlag(DsnNotify.Never) || (notify != DsnNotify.Unspecified && !notify.HasFlag(DsnNotify.Failure))))
                continue;
            pending.Add((target, recipient));
        }
        return pending;
    }
}
