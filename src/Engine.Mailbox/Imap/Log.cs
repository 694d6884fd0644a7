using Microsoft.Extensions.Logging;

namespace Engine.Mailbox.Imap;

/// <summary>The IMAP server's log lines, in Dovecot's words (event ids 1300-1399). Never a password.</summary>
internal static partial class ImapLog
{
    [LoggerMessage(1301, LogLevel.Information, "imap-login: Login: user=<{User}>, method={Method}, rip={Remote}")]
    public static partial void Login(ILogger logger, string user, string method, string remote);

    [LoggerMessage(1302, LogLevel.Warning, "imap-login: Aborted login (auth failed, {Failures} attempts): user=<{User}>, rip={Remote}: {Reason}")]
    public static partial void LoginFailed(ILogger logger, string user, int failures, string remote, string reason);

    [LoggerMessage(1303, LogLevel.Information, "imap({User}): Disconnected: {Why} in={In} out={Out}")]
    public static partial void LoggedOut(ILogger logger, string user, string why, long @in, long @out);

    [LoggerMessage(1305, LogLevel.Warning, "imap: bad input from {Remote}: {Error}")]
    public static partial void BadInput(ILogger logger, string remote, string error);

    [LoggerMessage(1307, LogLevel.Information, "imap-login: TLS: rip={Remote}, {Tls}")]
    public static partial void Tls(ILogger logger, string remote, string tls);

    [LoggerMessage(1306, LogLevel.Error, "imap({User}): {What} failed: {Reason}")]
    public static partial void Failed(ILogger logger, string user, string what, string reason);
}
