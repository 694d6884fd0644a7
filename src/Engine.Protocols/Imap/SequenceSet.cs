using System.Globalization;

namespace Engine.Protocols.Imap;

/// <summary>
/// An IMAP sequence set (RFC 9051 section 9, "sequence-set"): numbers and ranges, "*" for the largest
/// number in use. Ranges may be written either way round ("5:3" is "3:5"). At most <see cref="MaxRanges"/>
/// ranges, so a client cannot make the server hold a huge list.
/// </summary>
public sealed class SequenceSet
{
    public const int MaxRanges = 10_000;

    private readonly (long From, long To)[] _ranges; // 0 stands for "*"

    private SequenceSet((long, long)[] ranges) => _ranges = ranges;

    public static bool TryParse(string text, out SequenceSet set)
    {
        set = new SequenceSet([]);
        if (text.Length == 0 || text.AsSpan().Count(',') >= MaxRanges)
            return false; // counted before splitting: a huge literal of commas makes no strings
        var items = text.Split(',');
        var ranges = new (long, long)[items.Length];
        for (var i = 0; i < items.Length; i++)
        {
            var ends = items[i].Split(':');
            if (ends.Length > 2 || !TryNumber(ends[0], out var from) || !TryNumber(ends[^1], out var to))
                return false;
            ranges[i] = (from, to);
        }
        set = new SequenceSet(ranges);
        return true;
    }

    private static bool TryNumber(string text, out long value)
    {
        value = 0;
        if (text == "*")
            return true;
        return text.Length is > 0 and <= 10 && text[0] != '0'
               && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value is >= 1 and <= uint.MaxValue;
    }

    /// <summary>
    /// The numbers of the set that are among <paramref name="existing"/> (sorted ascending: message sequence
    /// numbers 1..n, or UIDs), each once, ascending. "*" is the largest existing one; with none, the set
    /// selects nothing ("1:*" on an empty folder).
    /// </summary>
    public IReadOnlyList<long> Select(IReadOnlyList<long> existing)
    {
        if (existing.Count == 0)
            return [];
        // Ranges resolved, sorted and merged first, so that ten thousand "1:*" cost one pass.
        var merged = Normalized(existing[^1]);
        var selected = new List<long>();
        foreach (var (low, high) in merged)
        {
            // Walk only what exists in [low, high], not the (possibly huge) range itself.
            for (var i = LowerBound(existing, low); i < existing.Count && existing[i] <= high; i++)
                selected.Add(existing[i]);
        }
        return selected;
    }

    private long _normalizedFor = -1;
    private (long Low, long High)[] _normalized = [];

    /// <summary>The ranges with "*" as <paramref name="star"/>, each low to high, sorted and merged (kept for the last star).</summary>
    private (long Low, long High)[] Normalized(long star)
    {
        if (_normalizedFor == star)
            return _normalized;
        var merged = new List<(long Low, long High)>();
        foreach (var (low, high) in _ranges.Select(r => (A: r.From == 0 ? star : r.From, B: r.To == 0 ? star : r.To))
                     .Select(r => (Low: Math.Min(r.A, r.B), High: Math.Max(r.A, r.B))).OrderBy(r => r.Low))
        {
            if (merged.Count > 0 && low <= merged[^1].High + 1)
                merged[^1] = (merged[^1].Low, Math.Max(merged[^1].High, high));
            else
                merged.Add((low, high));
        }
        _normalized = merged.ToArray();
        _normalizedFor = star;
        return _normalized;
    }

    /// <summary>
    /// Whether <paramref name="n"/> is in the set, "*" being <paramref name="star"/> (SEARCH's sequence-set and UID keys):
    /// a binary search in the ranges resolved, sorted and merged once per value of "*", so a set of ten thousand
    /// ranges costs a few steps per message, not ten thousand.
    /// </summary>
    public bool Contains(long n, long star)
    {
        var normalized = Normalized(star);
        int lo = 0, hi = normalized.Length - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            if (n < normalized[mid].Low)
                hi = mid - 1;
            else if (n > normalized[mid].High)
                lo = mid + 1;
            else
                return true;
        }
        return false;
    }

    /// <summary>Ascending numbers written as a set: 1:3,7,9:10.</summary>
    public static string Format(IEnumerable<long> ascending)
    {
        var ranges = new List<string>();
        long? first = null, last = null;
        foreach (var n in ascending)
        {
            if (last is { } l && n == l + 1)
            {
                last = n;
                continue;
            }
            if (first is { } f)
                ranges.Add(f == last ? f.ToString(CultureInfo.InvariantCulture) : string.Create(CultureInfo.InvariantCulture, $"{f}:{last}"));
            first = last = n;
        }
        if (first is { } a)
            ranges.Add(a == last ? a.ToString(CultureInfo.InvariantCulture) : string.Create(CultureInfo.InvariantCulture, $"{a}:{last}"));
        return string.Join(',', ranges);
    }

    private static int LowerBound(IReadOnlyList<long> sorted, long value)
    {
        int lo = 0, hi = sorted.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (sorted[mid] < value)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }
}
