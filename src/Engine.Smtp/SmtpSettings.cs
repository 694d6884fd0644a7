using System.Net;
using Akka.Configuration;
using Engine.Primitives;
using Engine.Protocols.Sasl;
using Engine.Protocols.Smtp;

namespace Engine.Smtp;

/// <summary>The <c>engine.smtp</c> section of the configuration, parsed once.</summary>
public sealed record SmtpSettings(
    string Hostname,
    IReadOnlyList<IPEndPoint> Listen,
    string Banner,
    IReadOnlySet<string> MyDestination,
    IReadOnlyList<IpNetwork> MyNetworks,
    long MessageSizeLimit,
    int RecipientLimit,
    int CommandLineLimit,
    int CommandExtensionAllowance,
    int TextLineLimit,
    BareNewlinePolicy BareNewline,
    int HardErrorLimit,
    int JunkCommandLimit,
    TimeSpan CommandTimeout,
    TimeSpan DataTimeout,
    int MaxConnections,
    int MaxConnectionsPerIp,
    TimeSpan ShutdownGrace,
    TimeSpan QueueTimeout,
    SmtpReply VrfyReply,
    IReadOnlySet<string> DiscardEhloKeywords,
    int QueuePartitions,
    int HopCountLimit = 50,
    TlsSecurityLevel TlsLevel = TlsSecurityLevel.May,
    IReadOnlyList<string>? AuthMechanisms = null,
    bool TlsAuthOnly = true,
    TimeSpan AuthFailureDelay = default,
    IReadOnlyList<IPEndPoint>? SubmissionListen = null,
    IReadOnlyList<IPEndPoint>? SubmissionListenTls = null,
    TimeSpan RateWindow = default,
    int MessageRateLimit = 200,
    int RecipientRateLimit = 1000,
    bool HeloRequired = true)
{
    /// <summary>The SASL mechanisms AUTH offers (engine.auth.mechanisms); none without the setting.</summary>
    public IReadOnlyList<string> Mechanisms => AuthMechanisms ?? [];

    public BodyLimits BodyLimits => new(MessageSizeLimit, TextLineLimit, BareNewline, HopCountLimit);

    /// <param name="hostname">The host name to use instead of engine.hostname (a reload keeps the running one).</param>
    public static SmtpSettings Create(Config config, string? hostname = null)
    {
        hostname ??= config.GetString("engine.hostname", "");
        if (string.IsNullOrWhiteSpace(hostname))
            hostname = Dns.GetHostName();
        var c = config.GetConfig("engine.smtp") ?? throw new ConfigurationException("engine.smtp is missing");
        var destinations = c.GetStringList("mydestination")
            .Select(d => d.Replace("$hostname", hostname, StringComparison.Ordinal).ToLowerInvariant())
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        var bare = c.GetString("bare-newline", "reject").ToLowerInvariant() switch
        {
            "reject" => BareNewlinePolicy.Reject,
            "normalize" => BareNewlinePolicy.Normalize,
            "allow" => BareNewlinePolicy.Allow,
            var other => throw new ConfigurationException($"engine.smtp.bare-newline: '{other}' is not reject, normalize or allow"),
        };
        var settings = new SmtpSettings(
            hostname,
            c.GetStringList("listen").Select(ParseEndPoint).ToArray(),
            c.GetString("banner", "ESMTP Engine"),
            destinations,
            c.GetStringList("mynetworks").Select(IpNetwork.Parse).ToArray(),
            c.GetByteSize("message-size-limit") ?? 20 * 1024 * 1024,
            c.GetInt("recipient-limit", 1000),
            c.GetInt("command-line-limit", 512),
            c.GetInt("command-extension-allowance", 1024),
            c.GetInt("text-line-limit", 2048),
            bare,
            c.GetInt("hard-error-limit", 20),
            c.GetInt("junk-command-limit", 100),
            c.GetTimeSpan("command-timeout", TimeSpan.FromMinutes(5)),
            c.GetTimeSpan("data-timeout", TimeSpan.FromMinutes(5)),
            c.GetInt("max-connections", 1000),
            c.GetInt("max-connections-per-ip", 50),
            c.GetTimeSpan("shutdown-grace", TimeSpan.FromSeconds(30)),
            c.GetTimeSpan("queue-timeout", TimeSpan.FromMinutes(1)),
            SmtpReply.Parse(c.GetString("vrfy-reply")),
            c.GetStringList("discard-ehlo-keywords").ToHashSet(StringComparer.OrdinalIgnoreCase),
            config.GetInt("engine.queue.partitions", 16),
            c.GetInt("hop-count-limit", 50),
            c.GetString("tls-security-level", "may").ToLowerInvariant() switch
            {
                "none" => TlsSecurityLevel.None,
                "may" => TlsSecurityLevel.May,
                "encrypt" => TlsSecurityLevel.Encrypt,
                var other => throw new ConfigurationException($"engine.smtp.tls-security-level: '{other}' is not none, may or encrypt"),
            },
            AuthMechanismsOf(config),
            c.GetBoolean("tls-auth-only", true),
            c.GetTimeSpan("auth-failure-delay", TimeSpan.FromSeconds(1)),
            config.GetStringList("engine.submission.listen").Select(ParseEndPoint).ToArray(),
            config.GetStringList("engine.submission.listen-tls").Select(ParseEndPoint).ToArray(),
            config.GetTimeSpan("engine.submission.rate-window", TimeSpan.FromHours(1)),
            config.GetInt("engine.submission.message-rate-limit", 200),
            config.GetInt("engine.submission.recipient-rate-limit", 1000),
            c.GetBoolean("helo-required", true));
        if (settings.CommandLineLimit < 512)
            throw new ConfigurationException("engine.smtp.command-line-limit must be at least 512 (RFC 5321 section 4.5.3.1.4)");
        if (settings.TextLineLimit < 1000)
            throw new ConfigurationException("engine.smtp.text-line-limit must be at least 1000 (RFC 5321 section 4.5.3.1.6)");
        if (settings.QueueTimeout >= settings.CommandTimeout)
            throw new ConfigurationException("engine.smtp.queue-timeout must be shorter than command-timeout, or a client waiting for its 250 times out first");
        if (settings.MessageSizeLimit < 1024 || settings.RecipientLimit < 1 || settings.HardErrorLimit < 1
            || settings.MaxConnections < 1 || settings.MaxConnectionsPerIp < 1 || settings.JunkCommandLimit < 1)
            throw new ConfigurationException("engine.smtp: limits must be positive");
        return settings;
    }

    private static IReadOnlyList<string> AuthMechanismsOf(Config config)
    {
        try
        {
            return SaslMechanisms.Validate(config.GetStringList("engine.auth.mechanisms", [.. SaslMechanisms.Defaults]));
        }
        catch (ArgumentException e)
        {
            throw new ConfigurationException("engine.auth.mechanisms: " + e.Message);
        }
    }

    private static IPEndPoint ParseEndPoint(string text) =>
        IPEndPoint.TryParse(text, out var endPoint) && endPoint.Port is > 0 or 0
            ? endPoint
            : throw new ConfigurationException($"engine.smtp.listen: '{text}' is not address:port");

    /// <summary>True when an EHLO keyword is hidden and its command refused (Postfix's smtpd_discard_ehlo_keywords).</summary>
    public bool IsDiscarded(string keyword) => DiscardEhloKeywords.Contains(keyword);

    public bool IsLocalDomain(string domain) => MyDestination.Contains(domain);

    public bool IsMyNetwork(IPAddress address) => MyNetworks.Any(n => n.Contains(address));
}

/// <summary>Postfix's smtpd_tls_security_level: no STARTTLS, STARTTLS offered, or STARTTLS required before MAIL.</summary>
public enum TlsSecurityLevel
{
    None,
    May,
    Encrypt,
}
