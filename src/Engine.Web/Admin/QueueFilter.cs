using System.Globalization;
using Engine.Messages.Queue;

namespace Engine.Web.Admin;

/// <summary>
/// An operator's filter as the API takes it (queue name, sender, recipient, domain, least age), checked and turned
/// into the <see cref="QueueQuery"/> the partitions run. A value given empty is refused rather than read as "all":
/// a script with an unset variable must not act on the whole queue.
/// </summary>
public static class QueueFilter
{
    public static QueueQuery Query(string? queue, string? sender, string? recipient, string? domain, string? minAge, DateTimeOffset now) =>
        new(ParseQueue(queue), Given("sender", sender), Given("recipient", recipient), Given("domain", domain),
            ParseAge(minAge) is { } age ? now - age : null);

    /// <summary>Whether any part of a filter was given (even empty, which <see cref="Query"/> then refuses).</summary>
    public static bool Any(params string?[] parts) => parts.Any(p => p is not null);

    private static string? Given(string name, string? value) =>
        value is null ? null
        : string.IsNullOrWhiteSpace(value) || value.Trim() == "@" ? throw new FormatException($"the {name} filter is empty")
        : value.Trim();

    /// <summary>One of Postfix's queue names, lower or upper case.</summary>
    public static QueueState? ParseQueue(string? name) => name?.Trim().ToLowerInvariant() switch
    {
        null => null,
        "incoming" => QueueState.Incoming,
        "active" => QueueState.Active,
        "deferred" => QueueState.Deferred,
        "hold" => QueueState.Hold,
        "corrupt" => QueueState.Corrupt,
        _ => throw new FormatException($"'{name}' is not a queue (incoming, active, deferred, hold, corrupt)"),
    };

    /// <summary>An age as "90", "90s", "15m", "2h" or "3d", up to ten years.</summary>
    public static TimeSpan? ParseAge(string? text)
    {
        if (text is null)
            return null;
        text = text.Trim();
        var unit = text.Length > 0 && !char.IsAsciiDigit(text[^1]) ? text[^1] : 's';
        var number = unit == 's' && text.EndsWith('s') || unit != 's' ? text[..^1] : text;
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n) || number.Length == 0)
            throw new FormatException($"'{text}' is not an age such as 90s, 15m, 2h or 3d");
        var seconds = unit switch
        {
            's' => n,
            'm' => n * 60,
            'h' => n * 3600,
            'd' => n * 86400,
            _ => throw new FormatException($"'{text}' is not an age such as 90s, 15m, 2h or 3d"),
        };
        return seconds <= 10 * 365 * 86400.0 ? TimeSpan.FromSeconds(seconds) : throw new FormatException($"'{text}' is longer than ten years");
    }
}
