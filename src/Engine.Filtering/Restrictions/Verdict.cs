using Engine.Primitives;

namespace Engine.Filtering.Restrictions;

public enum Decision
{
    /// <summary>No opinion: the next restriction of the list decides (Postfix's DUNNO).</summary>
    Dunno,

    /// <summary>Ends the list, allowed (OK, permit_*); the next stage's list is still evaluated.</summary>
    Permit,

    /// <summary>Ends the evaluation with a 4xx or 5xx reply.</summary>
    Reject,
}

/// <summary>
/// What an access map asks to be done with the whole message, whatever the decision (access(5)). <see cref="Text"/>
/// is what the maillog says of it, as Postfix words it ("&lt;a@b.example&gt;: Sender address triggers HOLD action").
/// </summary>
public abstract record TransactionEffect(string Text)
{
    /// <summary>HOLD: queued into the hold queue, delivered only when an operator releases it.</summary>
    public sealed record Hold(string Reason, string? Logged = null) : TransactionEffect(Logged ?? Reason);

    /// <summary>DISCARD: answered as accepted, then dropped.</summary>
    public sealed record Discard(string Reason, string? Logged = null) : TransactionEffect(Logged ?? Reason);

    /// <summary>PREPEND: a header line put above the message's own (not logged, as in Postfix).</summary>
    public sealed record Prepend(string Header) : TransactionEffect(Header);

    /// <summary>REDIRECT: delivered to this address instead of every recipient.</summary>
    public sealed record Redirect(string Address, string? Logged = null) : TransactionEffect(Logged ?? Address);

    /// <summary>FILTER: sent through this transport ("smtp:[127.0.0.1]:10025") instead of the usual route.</summary>
    public sealed record Filter(string Transport, string? Logged = null) : TransactionEffect(Logged ?? Transport);

    /// <summary>WARN and INFO: only logged.</summary>
    public sealed record Warn(string Message) : TransactionEffect(Message);
}

/// <summary>One restriction's answer: its decision, the reply of a rejection, and the effect it asks for.</summary>
public readonly record struct Verdict(Decision Decision, SmtpReply? Reply = null, TransactionEffect? Effect = null)
{
    public static readonly Verdict Dunno = new(Decision.Dunno);
    public static readonly Verdict Permit = new(Decision.Permit);

    public static Verdict Reject(SmtpReply reply) => new(Decision.Reject, reply);
}
