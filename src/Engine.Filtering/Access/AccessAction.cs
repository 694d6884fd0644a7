using System.Collections.Concurrent;
using Engine.Filtering.Restrictions;
using Engine.Primitives;

namespace Engine.Filtering.Access;

/// <summary>
/// What an access table's value does (access(5)): OK, RELAY or an all-digit value permits; REJECT and DEFER refuse
/// with 554 5.7.1 and 450 4.7.1 (and the text given, or "Access denied"); "4NN/5NN [x.y.z] text" refuses with
/// that code; a text may start with its own enhanced code of the same class ("REJECT 5.7.0 go away");
/// DUNNO passes on; DEFER_IF_REJECT and DEFER_IF_PERMIT act as the restrictions of that name;
/// DISCARD permits and drops the message; HOLD, PREPEND, REDIRECT, FILTER, WARN and INFO pass on and ask
/// for their effect; anything else is a list of restrictions (a restriction class, "permit_mynetworks reject").
/// </summary>
public sealed class AccessAction(Func<string, IRestriction> parseList)
{
    private readonly ConcurrentDictionary<string, IRestriction> _lists = new(StringComparer.Ordinal);

    /// <param name="key">The subject as the reply names it ("unknown[192.0.2.1]", "a@b.example").</param>
    /// <param name="what">"Client host", "Sender address", ...: the reply's "... rejected".</param>
    public ValueTask<Verdict> ApplyAsync(string value, RestrictionCall call, string key, string what)
    {
        value = value.Trim();
        if (value.Length == 0)
            return new(Verdict.Dunno); // an empty value is no answer (Postfix: not a number, so not OK)
        var space = value.IndexOfAny([' ', '\t']);
        var word = space < 0 ? value : value[..space];
        var text = space < 0 ? null : value[(space + 1)..].Trim();
        if (value.All(char.IsAsciiDigit))
            return new(Verdict.Permit); // all digits is OK in Postfix (some out-of-band schemes keep a time stamp there)
        switch (word.ToUpperInvariant())
        {
            case "OK" or "RELAY":
                return new(Verdict.Permit);
            case "REJECT":
                return new(Verdict.Reject(Coded(554, text, key, what, "Access denied")));
            case "DEFER":
                return new(Verdict.Reject(Coded(450, text, key, what, "Access denied")));
            case "DEFER_IF_REJECT":
                call.State.DeferIfReject ??= Coded(450, text, key, what, "Service unavailable");
                return new(Verdict.Dunno);
            case "DEFER_IF_PERMIT":
                call.State.DeferIfPermit ??= Coded(450, text, key, what, "Service unavailable");
                return new(Verdict.Dunno);
            case "DUNNO":
                return new(Verdict.Dunno);
            case "DISCARD":
                return new(new Verdict(Decision.Permit, null,
                    new TransactionEffect.Discard(text ?? $"{what} triggers DISCARD action", $"<{key}>: {what} {text ?? "triggers DISCARD action"}")));
            case "HOLD":
                return new(new Verdict(Decision.Dunno, null,
                    new TransactionEffect.Hold(text ?? $"{what} triggers HOLD action", $"<{key}>: {what} {text ?? "triggers HOLD action"}")));
            case "PREPEND" when text is not null && text.IndexOf(':') > 0:
                return new(new Verdict(Decision.Dunno, null, new TransactionEffect.Prepend(text)));
            case "REDIRECT" when text is not null && text.Contains('@'):
                return new(new Verdict(Decision.Dunno, null, new TransactionEffect.Redirect(text, $"<{key}>: {what} triggers REDIRECT {text}")));
            case "FILTER" when text is not null && text.Contains(':'):
                return new(new Verdict(Decision.Dunno, null, new TransactionEffect.Filter(text, $"<{key}>: {what} triggers FILTER {text}")));
            case "WARN" or "INFO":
                return new(new Verdict(Decision.Dunno, null, new TransactionEffect.Warn(text ?? "")));
            case var code when IsReplyCode(code):
                return new(Verdict.Reject(Coded(int.Parse(code), text, key, what, "Access denied")));
        }
        IRestriction list;
        try
        {
            list = _lists.GetOrAdd(value, parseList);
        }
        catch (FormatException e)
        {
            // A table value that is no action and no restriction: the table is wrong, not the client. The session
            // answers 451 4.3.5 "Server configuration error", as Postfix, and logs the reason.
            throw new RestrictionConfigurationException($"access table value '{value}' for <{key}>: {e.Message}");
        }
        return list.CheckAsync(call);
    }

    private static bool IsReplyCode(string word) => word.Length == 3 && word[0] is '4' or '5' && word.All(char.IsAsciiDigit);

    /// <summary>"550 5.7.0 text" or "550 text": the enhanced code when given (and of the same class), else x.7.1.</summary>
    private static SmtpReply Coded(int code, string? text, string key, string what, string otherwise)
    {
        var enhanced = $"{code / 100}.7.1";
        if (text is not null && text.Split(' ', 2) is [var first, ..] && first.Length >= 5 && first[0] == (char)('0' + code / 100) && first[1] == '.'
            && first.Split('.').Length == 3 && first.Split('.').All(p => p.Length > 0 && p.All(char.IsAsciiDigit)))
        {
            enhanced = first;
            text = text.Length > first.Length ? text[(first.Length + 1)..] : null;
        }
        return Replies.Rejected(code, enhanced, key, what, text ?? otherwise);
    }
}
