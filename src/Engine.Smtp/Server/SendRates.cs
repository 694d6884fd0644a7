using Engine.Network;

namespace Engine.Smtp.Server;

/// <summary>
/// How much an authenticated user may send in a window: messages (counted at MAIL) and recipients (at RCPT),
/// as a policy service does for Postfix. Past a limit the client is told 450 4.7.1 and tries later; mail from
/// unauthenticated clients is not counted here. With a <see cref="CountExchange"/> the counts are the
/// cluster's, so a user who spreads connections over the farm's submission nodes gets no more.
/// </summary>
public sealed class SendRates
{
    private const string Table = "send";
    private readonly SlidingCounts _messages;
    private readonly SlidingCounts _recipients;
    private readonly int _messageLimit;
    private readonly int _recipientLimit;
    private readonly CountExchange? _exchange;
    private readonly Func<DateTime> _now;

    public SendRates(TimeSpan window, int messageLimit, int recipientLimit, CountExchange? exchange = null, Func<DateTime>? clock = null)
    {
        _messages = new SlidingCounts(window);
        _recipients = new SlidingCounts(window);
        (_messageLimit, _recipientLimit, _exchange) = (messageLimit, recipientLimit, exchange);
        _now = clock ?? (() => DateTime.UtcNow);
        exchange?.Register(Table, Apply);
    }

    /// <summary>The refusal of one more message from <paramref name="user"/>, or null (and the message is counted).</summary>
    public string? Message(string user) => Take(_messages, "m:", user, _messageLimit, $"Error: too much mail from user {user}; try again later");

    /// <summary>The refusal of one more recipient, or null (and it is counted).</summary>
    public string? Recipient(string user) =>
        Take(_recipients, "r:", user, _recipientLimit, $"Error: too many recipients from user {user}; try again later");

    private string? Take(SlidingCounts counts, string kind, string user, int limit, string refusal)
    {
        var now = _now();
        if (counts.Count(user, now) >= limit)
            return refusal;
        counts.Add(user, now);
        _exchange?.Publish(Table, kind + user, 1);
        return null;
    }

    /// <summary>Another node's count: "m:" messages or "r:" recipients of a user.</summary>
    private void Apply(string key, int count)
    {
        var counts = key.StartsWith("m:", StringComparison.Ordinal) ? _messages : key.StartsWith("r:", StringComparison.Ordinal) ? _recipients : null;
        if (counts is not null && count > 0)
            counts.Add(key[2..], _now(), Math.Min(count, 1000));
    }
}

