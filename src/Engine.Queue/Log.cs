using Microsoft.Extensions.Logging;

namespace Engine.Queue;

/// <summary>The queue's maillog lines, in Postfix's words (event ids 1100-1199).</summary>
internal static partial class QueueLog
{
    [LoggerMessage(1100, LogLevel.Information, "{QueueId}: to=<{To}>, orig_to=<{OrigTo}>, relay=local, delay={Delay:0.##}, delays={Delays}, dsn=2.0.0, status=sent (delivered to maildir, uid {Uid})")]
    public static partial void DeliveredLocal(ILogger logger, string queueId, string to, string origTo, double delay, string delays, long uid);

    [LoggerMessage(1101, LogLevel.Information, "{QueueId}: removed")]
    public static partial void Removed(ILogger logger, string queueId);

    [LoggerMessage(1102, LogLevel.Warning, "{QueueId}: to=<{To}>, relay=local, delay={Delay:0.##}, delays={Delays}, dsn={Dsn}, status={Status} ({Reason})")]
    public static partial void Local(ILogger logger, string queueId, string to, double delay, string delays, string dsn, string status, string reason);

    [LoggerMessage(1103, LogLevel.Information, "{QueueId}: to=<{To}>, relay={Relay}, delay={Delay:0.##}, delays={Delays}, dsn={Dsn}, status={Status} ({Reply})")]
    public static partial void Remote(ILogger logger, string queueId, string to, string relay, double delay, string delays, string dsn, string status, string reply);

    [LoggerMessage(1104, LogLevel.Information, "{QueueId}: sender non-delivery notification: {BounceId}")]
    public static partial void Bounce(ILogger logger, string queueId, string bounceId);

    [LoggerMessage(1105, LogLevel.Information, "{QueueId}: sender delay notification: {NoticeId}")]
    public static partial void DelayWarning(ILogger logger, string queueId, string noticeId);

    [LoggerMessage(1114, LogLevel.Information, "{QueueId}: sender delivery status notification: {NoticeId}")]
    public static partial void Success(ILogger logger, string queueId, string noticeId);

    [LoggerMessage(1106, LogLevel.Information, "{QueueId}: from=<{From}>, status=expired, returned to sender")]
    public static partial void Expired(ILogger logger, string queueId, string from);

    [LoggerMessage(1107, LogLevel.Information, "{QueueId}: held: {Reason}")]
    public static partial void Held(ILogger logger, string queueId, string reason);

    [LoggerMessage(1108, LogLevel.Information, "{QueueId}: released from hold")]
    public static partial void Released(ILogger logger, string queueId);

    [LoggerMessage(1109, LogLevel.Error, "{QueueId}: corrupt, moved to the corrupt queue: {Reason}")]
    public static partial void Corrupt(ILogger logger, string queueId, string reason);

    [LoggerMessage(1110, LogLevel.Warning, "{QueueId}: ignoring bad FILTER action: {Filter}")]
    public static partial void BadFilter(ILogger logger, string queueId, string filter);

    [LoggerMessage(1111, LogLevel.Information, "{QueueId}: requeued")]
    public static partial void Requeued(ILogger logger, string queueId);

    [LoggerMessage(1112, LogLevel.Warning, "{QueueId}: spool sweep: body {BlobRef} has no queue entry, deleted")]
    public static partial void Swept(ILogger logger, string queueId, string blobRef);

    [LoggerMessage(1113, LogLevel.Warning, "spool sweep stopped: {Reason}")]
    public static partial void SweepFailed(ILogger logger, string reason);
}
