using Engine.Network;

namespace Engine.Smtp.Server;

/// <summary>
/// How much an authenticated user may send in a window: messages (counted at MAIL) and recipients (at RCPT),
/// as a policy service does for Postfix. Past a limit the client is told 450 4.7.1 and tries later; mail from
/// unauthenticated clients is not counted here. With a <see cref="CountExchange"/> the counts are the
/// cluster's, so a user who spreads connections over the farm's submission nodes gets no more.
/// </summary>
public sealed class SendRates(TimeSpan window, int messageLimit, int recipientLimit, CountExchange? exchange = null, Func<DateTime>? clock = null)
{
    private readonly RateCounter _messages = new("send-messages", window, messageLimit, exchange, clock);
    private readonly RateCounter _recipients = new("send-recipients", window, recipientLimit, exchange, clock);

    /// <summary>The refusal of one more message from <paramref name="user"/>, or null (and the message is counted).</summary>
    public string? Message(string user) => _messages.Take(user) ? null : $"Error: too much mail from user {user}; try again later";

    /// <summary>The refusal of one more recipient, or null (and it is counted).</summary>
    public string? Recipient(string user) => _recipients.Take(user) ? null : $"Error: too many recipients from user {user}; try again later";
}

/// <summary>engine.smtp.client-*-rate-limit: Postfix's anvil limits per client address, per anvil-rate-time-unit.</summary>
public sealed record ClientRateLimits(TimeSpan Unit, int Connections, int Messages, int Recipients)
{
    public static readonly ClientRateLimits None = new(TimeSpan.FromMinutes(1), 0, 0, 0);
}

/// <summary>
/// Postfix's anvil rates per client address, across the cluster: new connections (421 4.7.0 Error: too many
/// connections from address), messages (450 4.7.1 Error: too much mail from address) and recipients (450 4.7.1
/// Error: too many recipients from address) per time unit. Clients in mynetworks are not limited (Postfix's
/// smtpd_client_event_limit_exceptions). 0 turns a limit off, as in Postfix.
/// </summary>
public sealed class ClientRates(ClientRateLimits limits, CountExchange? exchange = null, Func<DateTime>? clock = null)
{
    private readonly RateCounter _connections = new("client-connections", limits.Unit, limits.Connections, exchange, clock);

    /// <summary>Open connections per client address, the cluster's when the nodes exchange counts (max-connections-per-ip).</summary>
    public ConnectionCounter Open { get; } = new("smtp-open-connections", exchange);

    /// <summary>Whether any limit is on (all are off by default, so sessions skip the lookups).</summary>
    public bool Any { get; } = limits.Connections > 0 || limits.Messages > 0 || limits.Recipients > 0;
    private readonly RateCounter _messages = new("client-messages", limits.Unit, limits.Messages, exchange, clock);
    private readonly RateCounter _recipients = new("client-recipients", limits.Unit, limits.Recipients, exchange, clock);

    public string? Connection(string address) => _connections.Take(address) ? null : $"Error: too many connections from {address}";

    public string? Message(string address) => _messages.Take(address) ? null : $"Error: too much mail from {address}";

    public string? Recipient(string address) => _recipients.Take(address) ? null : $"Error: too many recipients from {address}";
}
