using System.Net;
using Akka.Configuration;
using Engine.Protocols.Sasl;

namespace Engine.Mailbox.Access;

/// <summary>What the POP3 and IMAP services share in their configuration sections (<c>engine.pop3</c>, <c>engine.imap</c>).</summary>
/// <param name="LockSession">POP3 only: one session per maildrop at a time (RFC 1939's exclusive access; Dovecot's pop3_lock_session).</param>
/// <param name="ListenTls">Listeners with TLS from the first byte (IMAP 993, POP3 995; RFC 8314).</param>
/// <param name="AuthMechanisms">The SASL mechanisms offered (engine.auth.mechanisms), over TLS.</param>
/// <param name="PlaintextOnLoopback">Passwords are taken without TLS from loopback clients too (engine.auth.plaintext-on-loopback).</param>
public sealed record AccessSettings(string Hostname, IReadOnlyList<IPEndPoint> Listen, int MaxConnections, int MaxConnectionsPerIp,
    TimeSpan IdleTimeout, TimeSpan AuthFailureDelay, int MaxAuthFailures, int MaxErrors, bool LockSession = false, IReadOnlyList<IPEndPoint>? ListenTls = null,
    IReadOnlyList<string>? AuthMechanisms = null, bool PlaintextOnLoopback = false)
{
    public IReadOnlyList<string> Mechanisms => AuthMechanisms ?? ["PLAIN"];

    public static AccessSettings Create(Config config, string section, TimeSpan defaultIdle)
    {
        var c = config.GetConfig(section) ?? throw new ConfigurationException($"{section} is missing");
        IPEndPoint[] EndPoints(string key) => c.GetStringList(key)
            .Select(l => IPEndPoint.TryParse(l, out var e) ? e : throw new ConfigurationException($"{section}.{key}: '{l}'")).ToArray();
        var listen = EndPoints("listen");
        var settings = new AccessSettings(config.GetString("engine.hostname"), listen, c.GetInt("max-connections", 1000),
            c.GetInt("max-connections-per-ip", 20), c.GetTimeSpan("idle-timeout", defaultIdle),
            c.GetTimeSpan("auth-failure-delay", TimeSpan.FromSeconds(2)), c.GetInt("max-auth-failures", 3), c.GetInt("max-errors", 10),
            c.GetBoolean("lock-session", false), EndPoints("listen-tls"), AuthMechanismsOf(config),
            config.GetBoolean("engine.auth.plaintext-on-loopback", false));
        if (settings.MaxConnections < 1 || settings.MaxConnectionsPerIp < 1 || settings.MaxAuthFailures < 1 || settings.MaxErrors < 1)
            throw new ConfigurationException($"{section}: the connection, failure and error limits must be positive");
        return settings;
    }

    /// <summary>engine.auth.mechanisms, checked.</summary>
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
}
