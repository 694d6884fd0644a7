using System.Net;
using Engine.Filtering.Dns;
using Engine.Filtering.Restrictions.Recipient;
using Engine.Primitives;

namespace Engine.Filtering.Restrictions;

/// <summary>The outcome of the lists run for one command: a refusal (or null), the effects asked for, the warnings to log.</summary>
public sealed record Outcome(SmtpReply? Refusal, IReadOnlyList<TransactionEffect> Effects, IReadOnlyList<SmtpReply> Warnings);

/// <summary>
/// The node's restriction lists (engine.smtp.restrictions), run as Postfix runs them with smtpd_delay_reject:
/// the client, helo, sender and recipient lists all at RCPT (so a client refused for its address still learns
/// which recipient it tried, and the log says so); data at DATA, end-of-data after the body. In each list the
/// first permit or reject wins; a permit ends its own list only, a reject ends all. Then defer_if_permit, and
/// then, unless turned off, reject_unlisted_recipient (Postfix's smtpd_reject_unlisted_recipient).
/// </summary>
public sealed class Restrictions(Site site, IReadOnlyDictionary<SmtpStage, RestrictionList> lists, bool rejectUnlistedRecipient = true,
    IReadOnlyCollection<string>? clientZones = null, bool needsClientName = false)
{
    /// <summary>
    /// A client connects: the DNS questions its restrictions will ask about it (the lists of its address, its
    /// name) start now, in parallel; null when none will be asked (no DNS traffic at all then).
    /// </summary>
    /// <summary>Whether a restriction needs the client's name (so sessions look it up at connect and log it).</summary>
    public bool LooksUpClientName => needsClientName && site.Dns is not null;

    public ClientLookups? Connect(IPAddress client) =>
        site.Dns is { } dns && (needsClientName || clientZones is { Count: > 0 }) ? new ClientLookups(client, dns, clientZones ?? [], needsClientName) : null;

    private static readonly RestrictionList Empty = new("empty", []);
    private static readonly RejectUnlistedRecipient Unlisted = new();

    public Site Site => site;

    /// <summary>header_checks, mime_header_checks, nested_header_checks and body_checks, run on the text as it streams in.</summary>
    public Content.ContentChecks Content { get; init; } = Engine.Filtering.Content.ContentChecks.None;

    public RestrictionList List(SmtpStage stage) => lists.GetValueOrDefault(stage, Empty);

    public ValueTask<Outcome> RecipientAsync(SmtpFacts facts, CancellationToken cancel = default) =>
        RunAsync(facts, [SmtpStage.Client, SmtpStage.Helo, SmtpStage.Sender, SmtpStage.Recipient], rejectUnlistedRecipient, cancel);

    public ValueTask<Outcome> DataAsync(SmtpFacts facts, CancellationToken cancel = default) => RunAsync(facts, [SmtpStage.Data], false, cancel);

    public ValueTask<Outcome> EndOfDataAsync(SmtpFacts facts, CancellationToken cancel = default) => RunAsync(facts, [SmtpStage.EndOfData], false, cancel);

    private ValueTask<Outcome> RunAsync(SmtpFacts facts, SmtpStage[] stages, bool unlisted, CancellationToken cancel)
    {
        var state = new Evaluation();
        for (var i = 0; i < stages.Length; i++)
        {
            state.StartList();
            var call = new RestrictionCall(facts, stages[i], site, state, cancel);
            var pending = List(stages[i]).CheckAsync(call);
            if (!pending.IsCompletedSuccessfully)
                return ContinueAsync(facts, stages, i, pending, state, unlisted, cancel);
            if (pending.Result is { Decision: Decision.Reject, Reply: var reply })
                return new(new Outcome(reply, state.Effects, state.Warnings));
        }
        return Finish(facts, state, unlisted, cancel);
    }

    private async ValueTask<Outcome> ContinueAsync(SmtpFacts facts, SmtpStage[] stages, int at, ValueTask<Verdict> pending, Evaluation state, bool unlisted,
        CancellationToken cancel)
    {
        if ((await pending.ConfigureAwait(false)) is { Decision: Decision.Reject, Reply: var reply })
            return new Outcome(reply, state.Effects, state.Warnings);
        for (var i = at + 1; i < stages.Length; i++)
        {
            state.StartList();
            var verdict = await List(stages[i]).CheckAsync(new RestrictionCall(facts, stages[i], site, state, cancel)).ConfigureAwait(false);
            if (verdict is { Decision: Decision.Reject, Reply: var refusal })
                return new Outcome(refusal, state.Effects, state.Warnings);
        }
        return await Finish(facts, state, unlisted, cancel).ConfigureAwait(false);
    }

    private ValueTask<Outcome> Finish(SmtpFacts facts, Evaluation state, bool unlisted, CancellationToken cancel)
    {
        if (state.DeferIfPermit is { } deferred)
            return new(new Outcome(deferred, state.Effects, state.Warnings));
        if (unlisted && Unlisted.CheckAsync(new RestrictionCall(facts, SmtpStage.Recipient, site, state, cancel)).Result is { Decision: Decision.Reject } no)
            return new(new Outcome(no.Reply, state.Effects, state.Warnings));
        return new(new Outcome(null, state.Effects, state.Warnings));
    }
}
