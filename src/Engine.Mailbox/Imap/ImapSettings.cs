using Akka.Configuration;
using Engine.Mailbox.Access;

namespace Engine.Mailbox.Imap;

/// <summary>The <c>engine.imap</c> section: the listeners and limits every access service has, and IMAP's line and literal limits.</summary>
public sealed record ImapSettings(AccessSettings Access, int MaxLine, long MaxLiteral)
{
    public static ImapSettings Create(Config config)
    {
        // RFC 9051 section 5.4: an idle session is not closed before 30 minutes.
        var access = AccessSettings.Create(config, "engine.imap", TimeSpan.FromMinutes(30));
        var c = config.GetConfig("engine.imap");
        var settings = new ImapSettings(access, c.GetInt("max-line", 65536), c.GetByteSize("max-literal") ?? 50L * 1024 * 1024);
        if (settings.MaxLine < 1024 || settings.MaxLiteral < 1)
            throw new ConfigurationException("engine.imap: max-line must be at least 1024 and max-literal positive");
        return settings;
    }
}
