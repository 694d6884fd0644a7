using Microsoft.Extensions.Logging;

namespace Engine.Mailbox.Pop3;

/// <summary>The POP3 server's log lines, in Dovecot's words (event ids 1200-1299). Never a password.</summary>
internal static partial class Pop3Log
{
    [LoggerMessage(1201, LogLevel.Information, "pop3-login: Login: user=<{User}>, method={Method}, rip={Remote}")]
    public static partial void Login(ILogger logger, string user, string method, string remote);

    [LoggerMessage(1202, LogLevel.Warning, "pop3-login: Aborted login (auth failed, {Failures} attempts): user=<{User}>, rip={Remote}: {Reason}")]
    public static partial void LoginFailed(ILogger logger, string user, int failures, string remote, string reason);

    [LoggerMessage(1203, LogLevel.Information, "pop3({User}): Disconnected: {Why} retr={Retrieved}/{Bytes}, del={Deleted}/{Count}")]
    public static partial void LoggedOut(ILogger logger, string user, string why, int retrieved, long bytes, int deleted, int count);

    [LoggerMessage(1205, LogLevel.Warning, "pop3: bad input from {Remote}: {Error}")]
    public static partial void BadInput(ILogger logger, string remote, string error);

    [LoggerMessage(1207, LogLevel.Information, "pop3-login: TLS: rip={Remote}, {Tls}")]
    public static partial void Tls(ILogger logger, string remote, string tls);

    [LoggerMessage(1206, LogLevel.Error, "pop3({User}): {What} failed: {Reason}")]
    public static partial void Failed(ILogger logger, string user, string what, string reason);
}
