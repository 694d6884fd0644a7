using System.Globalization;
using Engine.Messages.Queue;

namespace Engine.Web.Admin;

/// <summary>
/// Which queued messages an operator means: a queue (incoming, active, deferred, hold, corrupt), a sender or a
/// recipient (a whole address, or "@domain" for any address there), a recipient domain, a least age. Empty
/// parts match everything.
/// </summary>
public sealed record QueueFilter(QueueState? Queue = null, string? Sender = null, string? Recipient = null, string? Domain = null,
    TimeSpan? MinAge = null)
{
    public bool Matches(QueuedMessage message, DateTimeOffset now) =>
        (Queue is not { } queue || message.State == queue)
        && (Sender is not { Length: > 0 } sender || Address(message.Envelope.Sender, sender))
        && (Recipient is not { Length: > 0 } recipient || message.Envelope.Recipients.Any(r => Address(r.Address, recipient)))
        && (Domain is not { Length: > 0 } domain || message.Envelope.Recipients.Any(r => Address(r.Address, "@" + domain.TrimStart('@'))))
        && (MinAge is not { } age || now - message.Envelope.ArrivedAt >= age);

    private static bool Address(string address, string wanted) =>
        wanted.StartsWith('@')
            ? address.EndsWith(wanted, StringComparison.OrdinalIgnoreCase)
            : address.Equals(wanted, StringComparison.OrdinalIgnoreCase);

    /// <summary>The queue names of Postfix, lower case.</summary>
    public static QueueState? ParseQueue(string? name) => name switch
    {
        null or "" => null,
        _ when Enum.TryParse<QueueState>(name, ignoreCase: true, out var state) && !int.TryParse(name, out _) => state,
        _ => throw new FormatException($"'{name}' is not a queue (incoming, active, deferred, hold, corrupt)"),
    };

    /// <summary>An age as "90", "90s", "15m", "2h" or "3d".</summary>
    public static TimeSpan? ParseAge(string? text)
    {
        if (string.IsNullOrEmpty(text))
            return null;
        var unit = char.IsAsciiDigit(text[^1]) ? 's' : text[^1];
        if (!double.TryParse(unit == text[^1] && !char.IsAsciiDigit(unit) ? text[..^1] : text, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || n < 0)
            throw new FormatException($"'{text}' is not an age such as 90s, 15m, 2h or 3d");
        return unit switch
        {
            's' => TimeSpan.FromSeconds(n),
            'm' => TimeSpan.FromMinutes(n),
            'h' => TimeSpan.FromHours(n),
            'd' => TimeSpan.FromDays(n),
            _ => throw new FormatException($"'{text}' is not an age such as 90s, 15m, 2h or 3d"),
        };
    }
}
