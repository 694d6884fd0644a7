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
        var star = existing[^1];
        // Ranges resolved, sorted and merged first, so that ten thousand "1:*" cost one pass.
        var ranges = _ranges.Select(r => (A: r.From == 0 ? star : r.From, B: r.To == 0 ? star : r.To))
            .Select(r => r.A <= r.B ? (Low: r.A, High: r.B) : (Low: r.B, High: r.A)).OrderBy(r => r.Low).ToList();
        var merged = new List<(long Low, long High)>();
        foreach (var r in ranges)
        {
            if (merged.Count > 0 && r.Low <= merged[^1].High + 1)
                merged[^1] = (merged[^1].Low, Math.Max(merged[^1].High, r.High));
            else
                merged.Add(r);
        }
        var selected = new List<long>();
        foreach (var (low, high) in merged)
        {
            // Walk only what exists in [low, high], not the (possibly huge) range itself.
            for (var i = LowerBound(existing, low); i < existing.Count && existing[i] <= high; i++)
                selected.Add(existing[i]);
        }
        return selected;
    }

    /// <summary>Whether <paramref name="n"/> is in the set, "*" being <paramref name="star"/> (SEARCH's sequence-set and UID keys).</summary>
    public bool Contains(long n, long star)
    {
        foreach (var (from, to) in _ranges)
        {
            var a = from == 0 ? star : from;
            var b = to == 0 ? star : to;
            if (n >= Math.Min(a, b) && n <= Math.Max(a, b))
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
