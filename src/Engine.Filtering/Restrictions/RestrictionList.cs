namespace Engine.Filtering.Restrictions;

/// <summary>
/// Restrictions evaluated in order until one permits or rejects (a stage's list, a restriction class, a
/// list an access table answers with). Checks that complete at once cost no asynchronous machinery.
/// </summary>
public sealed class RestrictionList(string name, IReadOnlyList<IRestriction> items) : IRestriction
{
    public string Name => name;

    public IReadOnlyList<IRestriction> Items => items;

    public ValueTask<Verdict> CheckAsync(RestrictionCall call)
    {
        for (var i = 0; i < items.Count; i++)
        {
            var pending = items[i].CheckAsync(call);
            if (!pending.IsCompletedSuccessfully)
                return ContinueAsync(call, i, pending);
            var verdict = Apply(call, items[i], pending.Result);
            if (verdict.Decision != Decision.Dunno)
                return new ValueTask<Verdict>(verdict);
        }
        return new ValueTask<Verdict>(Verdict.Dunno);
    }

    private async ValueTask<Verdict> ContinueAsync(RestrictionCall call, int at, ValueTask<Verdict> pending)
    {
        var verdict = Apply(call, items[at], await pending.ConfigureAwait(false));
        for (var i = at + 1; verdict.Decision == Decision.Dunno && i < items.Count; i++)
            verdict = Apply(call, items[i], await items[i].CheckAsync(call).ConfigureAwait(false));
        return verdict;
    }

    /// <summary>The modifiers' part: warn_if_reject and defer_if_reject change a rejection; effects are collected.</summary>
    private static Verdict Apply(RestrictionCall call, IRestriction item, Verdict verdict)
    {
        var state = call.State;
        var warn = state.WarnNext && item is not Modifier;
        if (item is not Modifier)
            state.WarnNext = false;
        if (verdict.Effect is { } effect)
            state.Effects.Add(effect);
        if (verdict is not { Decision: Decision.Reject, Reply: { } reply })
            return verdict;
        if (warn)
        {
            state.Warnings.Add(reply);
            return Verdict.Dunno;
        }
        // A 5xx after defer_if_reject is answered with the deferral's own reply, as Postfix's smtpd_check_reject does.
        return state.DeferIfReject is { } deferral && reply.IsPermanent ? Verdict.Reject(deferral) : verdict;
    }
}

/// <summary>warn_if_reject, defer_if_reject, defer_if_permit: they decide nothing, they change what comes after.</summary>
public sealed class Modifier(string name) : IRestriction
{
    public string Name => name;

    public ValueTask<Verdict> CheckAsync(RestrictionCall call)
    {
        switch (name)
        {
            case "warn_if_reject":
                call.State.WarnNext = true;
                break;
            case "defer_if_reject":
                call.State.DeferIfReject ??= call.Rejected(450, "4.7.0", "defer_if_reject requested");
                break;
            default:
                call.State.DeferIfPermit ??= call.Rejected(450, "4.7.0", "defer_if_permit requested");
                break;
        }
        return new ValueTask<Verdict>(Verdict.Dunno);
    }
}
