using Engine.Network;

namespace Engine.Smtp.Server;

/// <summary>
/// How much an authenticated user may send in a window, on this node: messages (counted at MAIL) and
/// recipients (at RCPT), as a policy service does for Postfix. Past a limit the client is told 450 4.7.1 and
/// tries later; mail from unauthenticated clients is not counted here.
/// </summary>
internal sealed class SendRates(TimeSpan window, int messageLimit, int recipientLimit, Func<DateTime>? clock = null)
{
    private readonly SlidingCounts _messages = new(window);
    private readonly SlidingCounts _recipients = new(window);
    private readonly Func<DateTime> _now = clock ?? (() => DateTime.UtcNow);

    /// <summary>The refusal of one more message from <paramref name="user"/>, or null (and the message is counted).</summary>
    public string? Message(string user) => Take(_messages, user, messageLimit, $"Error: too much mail from user {user}; try again later");

    /// <summary>The refusal of one more recipient, or null (and it is counted).</summary>
    public string? Recipient(string user) => Take(_recipients, user, recipientLimit, $"Error: too many recipients from user {user}; try again later");

    private string? Take(SlidingCounts counts, string user, int limit, string refusal)
    {
        var now = _now();
        if (counts.Count(user, now) >= limit)
            return refusal;
        counts.Add(user, now);
        return null;
    }
}

