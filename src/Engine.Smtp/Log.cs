using Microsoft.Extensions.Logging;

namespace Engine.Smtp;

/// <summary>
/// The maillog of the SMTP server: one line per event, in Postfix's words, keyed by queue id so that
/// <c>grep QUEUEID</c> shows the life of a message. Event ids are stable (1000-1099).
/// </summary>
internal static partial class Log
{
    [LoggerMessage(1000, LogLevel.Information, "connect from {Client}")]
    public static partial void Connect(ILogger logger, string client);

    [LoggerMessage(1001, LogLevel.Information, "disconnect from {Client} {Commands}")]
    public static partial void Disconnect(ILogger logger, string client, string commands);

    [LoggerMessage(1002, LogLevel.Information, "{QueueId}: client={Client}")]
    public static partial void Client(ILogger logger, string queueId, string client);

    [LoggerMessage(1003, LogLevel.Information, "{QueueId}: from=<{From}>, size={Size}, nrcpt={Recipients} (queue incoming)")]
    public static partial void Queued(ILogger logger, string queueId, string from, long size, int recipients);

    [LoggerMessage(1004, LogLevel.Information, "{QueueId}: reject: {Stage} from {Client}: {Reply}; from=<{From}> to=<{To}> proto={Protocol} helo=<{Helo}>")]
    public static partial void Reject(ILogger logger, string queueId, string stage, string client, string reply, string from, string to, string protocol, string helo);

    [LoggerMessage(1005, LogLevel.Warning, "{What} after {Command} from {Client}")]
    public static partial void SessionEnded(ILogger logger, string what, string command, string client);

    [LoggerMessage(1006, LogLevel.Warning, "{QueueId}: not queued: {Reason}")]
    public static partial void NotQueued(ILogger logger, string queueId, string reason);

    [LoggerMessage(1007, LogLevel.Warning, "refused {Reason} from {Client}: {Reply}")]
    public static partial void Refused(ILogger logger, string reason, string client, string reply);

    [LoggerMessage(1008, LogLevel.Information, "listening on {EndPoint}")]
    public static partial void Listening(ILogger logger, string endPoint);

    [LoggerMessage(1009, LogLevel.Warning, "reject: connect from {Client}: {Reply}")]
    public static partial void ConnectionRefused(ILogger logger, string client, string reply);

    [LoggerMessage(1010, LogLevel.Information, "stopping: {Sessions} sessions open, waiting up to {Grace}")]
    public static partial void Draining(ILogger logger, int sessions, TimeSpan grace);

    [LoggerMessage(1012, LogLevel.Information, "Anonymous TLS connection established from {Client}: {Tls}")]
    public static partial void Tls(ILogger logger, string client, string tls);

    [LoggerMessage(1013, LogLevel.Information, "{Client}: sasl_method={Method}, sasl_username={User}")]
    public static partial void Authenticated(ILogger logger, string client, string method, string user);

    [LoggerMessage(1014, LogLevel.Warning, "{Client}: SASL authentication failed: {Reason}")]
    public static partial void AuthFailed(ILogger logger, string client, string reason);

    [LoggerMessage(1011, LogLevel.Error, "session error from {Client}")]
    public static partial void SessionError(ILogger logger, Exception exception, string client);

    [LoggerMessage(1015, LogLevel.Information, "{QueueId}: reject_warning: {Stage} from {Client}: {Reply}; from=<{From}> to=<{To}> proto={Protocol} helo=<{Helo}>")]
    public static partial void RejectWarning(ILogger logger, string queueId, string stage, string client, string reply, string from, string to, string protocol,
        string helo);

    [LoggerMessage(1016, LogLevel.Information, "{QueueId}: {Action}: {Stage} from {Client}: {Text}; from=<{From}> to=<{To}> proto={Protocol} helo=<{Helo}>")]
    public static partial void Effect(ILogger logger, string queueId, string action, string stage, string client, string text, string from, string to,
        string protocol, string helo);

    [LoggerMessage(1018, LogLevel.Information, "{QueueId}: {Action}: {Where} from {Client}; from=<{From}> to=<{To}> proto={Protocol} helo=<{Helo}>: {Text}")]
    public static partial void Content(ILogger logger, string queueId, string action, string where, string client, string from, string to, string protocol,
        string helo, string text);

    [LoggerMessage(1017, LogLevel.Information, "policy: client={Client}, sender=<{Sender}>, recipient=<{Recipient}>: greylist {Why}")]
    public static partial void Policy(ILogger logger, string client, string sender, string recipient, string why);

    [LoggerMessage(1019, LogLevel.Warning, "{Client}: server configuration error: {Reason}")]
    public static partial void RestrictionMisconfigured(ILogger logger, string client, string reason);

    [LoggerMessage(1020, LogLevel.Warning, "lost connection from {Client}: {Reason}")]
    public static partial void ProxyRefused(ILogger logger, string client, string reason);
}
