using System.Globalization;
using MimeKit;

namespace Engine.Protocols.Imap;

/// <summary>What SEARCH can ask of one message: its numbers and flags at once, its text only when a key needs it.</summary>
public interface ISearchable
{
    long Sequence { get; }
    long Uid { get; }
    IReadOnlyList<string> Flags { get; }
    long Size { get; }
    DateTimeOffset InternalDate { get; }
    long ModSeq { get; }

    /// <summary>The parsed message (read from storage the first time a text or header key asks).</summary>
    MimeMessage Message();
}

/// <summary>One search key of RFC 9051 section 6.4.4 (and MODSEQ of RFC 7162), as a tree.</summary>
public abstract record SearchKey
{
    public sealed record All : SearchKey;

    public sealed record Flag(string Name, bool Set) : SearchKey;

    public sealed record Not(SearchKey Key) : SearchKey;

    public sealed record Or(SearchKey Left, SearchKey Right) : SearchKey;

    public sealed record And(IReadOnlyList<SearchKey> Keys) : SearchKey;

    public sealed record Sequence(SequenceSet Set) : SearchKey;

    public sealed record Uid(SequenceSet Set) : SearchKey;

    public sealed record Larger(long Size) : SearchKey;

    public sealed record Smaller(long Size) : SearchKey;

    /// <summary>BEFORE/ON/SINCE (the internal date) and SENTBEFORE/SENTON/SENTSINCE (the Date: header); -1, 0 or 1.</summary>
    public sealed record Date(bool Sent, int Compare, DateOnly Day) : SearchKey;

    /// <summary>HEADER field text, and SUBJECT, FROM, TO, CC, BCC (empty text: the field is there).</summary>
    public sealed record Header(string Field, string Value) : SearchKey;

    /// <summary>BODY (text parts) or TEXT (header and text parts).</summary>
    public sealed record Text(bool WithHeader, string Value) : SearchKey;

    public sealed record ModSeq(long Value) : SearchKey;

    /// <summary>NEW: \Recent and not \Seen; without \Recent (always empty here) it matches nothing, as RECENT.</summary>
    public sealed record Recent(bool Set) : SearchKey;
}

/// <summary>Parses and evaluates SEARCH criteria.</summary>
public static class SearchQuery
{
    private const int MaxDepth = 64;

    /// <summary>Parses the criteria (after any CHARSET and RETURN options) into one key, all of them ANDed.</summary>
    public static bool TryParse(IReadOnlyList<ImapToken> tokens, out SearchKey key, out string error)
    {
        var at = 0;
        var keys = new List<SearchKey>();
        key = new SearchKey.All();
        error = "";
        while (at < tokens.Count)
        {
            if (!TryParseKey(tokens, ref at, 0, out var next, out error))
                return false;
            keys.Add(next);
        }
        if (keys.Count == 0)
        {
            error = "Missing search criteria";
            return false;
        }
        key = keys.Count == 1 ? keys[0] : new SearchKey.And(keys);
        return true;
    }

    private static bool TryParseKey(IReadOnlyList<ImapToken> tokens, ref int at, int depth, out SearchKey key, out string error)
    {
        key = new SearchKey.All();
        error = "Invalid search criteria";
        if (depth > MaxDepth)
        {
            error = "Search criteria nested too deep";
            return false;
        }
        var token = tokens[at++];
        if (token is ImapToken.List list)
        {
            var inner = 0;
            var keys = new List<SearchKey>();
            while (inner < list.Items.Count)
            {
                if (!TryParseKey(list.Items, ref inner, depth + 1, out var k, out error))
                    return false;
                keys.Add(k);
            }
            if (keys.Count == 0)
                return false;
            key = keys.Count == 1 ? keys[0] : new SearchKey.And(keys);
            return true;
        }
        if (token is not ImapToken.Atom { Value: var word })
            return false;
        var upper = word.ToUpperInvariant();
        string? Arg(ref int i) => i < tokens.Count ? tokens[i++].Text : null;
        bool Number(ref int i, out long n)
        {
            n = 0;
            return Arg(ref i) is { } s && long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out n);
        }
        bool Day(ref int i, out DateOnly d)
        {
            d = default;
            return Arg(ref i) is { } s && ImapString.TryParseDate(s, out d);
        }
        switch (upper)
        {
            case "ALL":
                key = new SearchKey.All();
                return true;
            case "ANSWERED" or "DELETED" or "DRAFT" or "FLAGGED" or "SEEN":
                key = new SearchKey.Flag("\\" + upper[0] + upper[1..].ToLowerInvariant(), true);
                return true;
            case "UNANSWERED" or "UNDELETED" or "UNDRAFT" or "UNFLAGGED" or "UNSEEN":
                key = new SearchKey.Flag("\\" + upper[2] + upper[3..].ToLowerInvariant(), false);
                return true;
            case "KEYWORD" or "UNKEYWORD":
                if (Arg(ref at) is not { Length: > 0 } keyword)
                    return false;
                key = new SearchKey.Flag(keyword, upper == "KEYWORD");
                return true;
            case "NEW" or "RECENT":
                key = new SearchKey.Recent(true);
                return true;
            case "OLD":
                key = new SearchKey.Recent(false);
                return true;
            case "NOT":
                if (at >= tokens.Count || !TryParseKey(tokens, ref at, depth + 1, out var negated, out error))
                    return false;
                key = new SearchKey.Not(negated);
                return true;
            case "OR":
                if (at >= tokens.Count || !TryParseKey(tokens, ref at, depth + 1, out var left, out error)
                    || at >= tokens.Count || !TryParseKey(tokens, ref at, depth + 1, out var right, out error))
                    return false;
                key = new SearchKey.Or(left, right);
                return true;
            case "LARGER" or "SMALLER":
                if (!Number(ref at, out var size))
                    return false;
                key = upper == "LARGER" ? new SearchKey.Larger(size) : new SearchKey.Smaller(size);
                return true;
            case "MODSEQ":
                // RFC 7162: MODSEQ [entry-name entry-type] mod-sequence-valzer
                if (at + 2 < tokens.Count && tokens[at] is ImapToken.Quoted)
                    at += 2;
                if (!Number(ref at, out var modseq))
                    return false;
                key = new SearchKey.ModSeq(modseq);
                return true;
            case "BEFORE" or "ON" or "SINCE" or "SENTBEFORE" or "SENTON" or "SENTSINCE":
                if (!Day(ref at, out var day))
                {
                    error = "Invalid date in search";
                    return false;
                }
                var sent = upper.StartsWith("SENT", StringComparison.Ordinal);
                var compare = (sent ? upper[4..] : upper) switch { "BEFORE" => -1, "ON" => 0, _ => 1 };
                key = new SearchKey.Date(sent, compare, day);
                return true;
            case "SUBJECT" or "FROM" or "TO" or "CC" or "BCC":
                if (Arg(ref at) is not { } value)
                    return false;
                key = new SearchKey.Header(upper, value);
                return true;
            case "HEADER":
                if (Arg(ref at) is not { Length: > 0 } field || Arg(ref at) is not { } text)
                    return false;
                key = new SearchKey.Header(field.ToUpperInvariant(), text);
                return true;
            case "BODY" or "TEXT":
                if (Arg(ref at) is not { } body)
                    return false;
                key = new SearchKey.Text(upper == "TEXT", body);
                return true;
            case "UID":
                if (Arg(ref at) is not { } uids || !SequenceSet.TryParse(uids, out var uidSet))
                    return false;
                key = new SearchKey.Uid(uidSet);
                return true;
            default:
                if (word.Length > 0 && (char.IsAsciiDigit(word[0]) || word[0] == '*') && SequenceSet.TryParse(word, out var set))
                {
                    key = new SearchKey.Sequence(set);
                    return true;
                }
                error = $"Unknown search key {(word.Length > 40 ? word[..40] : word)}";
                return false;
        }
    }

    /// <summary>Whether a message matches; <paramref name="maxSequence"/> and <paramref name="maxUid"/> stand for "*".</summary>
    public static bool Matches(SearchKey key, ISearchable m, long maxSequence, long maxUid) => key switch
    {
        SearchKey.All => true,
        SearchKey.Flag f => m.Flags.Contains(f.Name, StringComparer.OrdinalIgnoreCase) == f.Set,
        SearchKey.Recent r => !r.Set,
        SearchKey.Not n => !Matches(n.Key, m, maxSequence, maxUid),
        SearchKey.Or o => Matches(o.Left, m, maxSequence, maxUid) || Matches(o.Right, m, maxSequence, maxUid),
        SearchKey.And a => a.Keys.All(k => Matches(k, m, maxSequence, maxUid)),
        SearchKey.Sequence s => s.Set.Contains(m.Sequence, maxSequence),
        SearchKey.Uid u => u.Set.Contains(m.Uid, maxUid),
        SearchKey.Larger l => m.Size > l.Size,
        SearchKey.Smaller s => m.Size < s.Size,
        SearchKey.ModSeq q => m.ModSeq >= q.Value,
        SearchKey.Date d => CompareDay(d, m),
        SearchKey.Header h => HeaderMatches(m.Message(), h.Field, h.Value),
        SearchKey.Text t => TextMatches(m.Message(), t.WithHeader, t.Value),
        _ => false,
    };

    private static bool CompareDay(SearchKey.Date d, ISearchable m)
    {
        DateOnly day;
        if (d.Sent)
        {
            var message = m.Message();
            if (message.Headers[HeaderId.Date] is null)
                return false;
            day = DateOnly.FromDateTime(message.Date.DateTime);
        }
        else
        {
            day = DateOnly.FromDateTime(m.InternalDate.DateTime);
        }
        var c = day.CompareTo(d.Day);
        return d.Compare switch { -1 => c < 0, 0 => c == 0, _ => c >= 0 };
    }

    private static bool HeaderMatches(MimeMessage message, string field, string text)
    {
        foreach (var header in message.Headers)
        {
            if (!string.Equals(header.Field, field, StringComparison.OrdinalIgnoreCase))
                continue;
            if (text.Length == 0 || header.Value.Contains(text, StringComparison.OrdinalIgnoreCase))
                return true;
        }
        return false;
    }

    private static bool TextMatches(MimeMessage message, bool withHeader, string text)
    {
        if (withHeader && message.Headers.Any(h => h.Value.Contains(text, StringComparison.OrdinalIgnoreCase)))
            return true;
        foreach (var part in message.BodyParts.OfType<TextPart>())
        {
            if (part.Text?.Contains(text, StringComparison.OrdinalIgnoreCase) == true)
                return true;
        }
        return false;
    }
}
