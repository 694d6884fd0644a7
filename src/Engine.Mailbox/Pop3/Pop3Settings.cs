using System.Net;
using Akka.Configuration;

namespace Engine.Mailbox.Pop3;

/// <summary>The <c>engine.pop3</c> section of the configuration.</summary>
public sealed record Pop3Settings(string Hostname, IReadOnlyList<IPEndPoint> Listen, int MaxConnections, int MaxConnectionsPerIp,
    TimeSpan IdleTimeout, TimeSpan AuthFailureDelay, int MaxAuthFailures, int MaxErrors)
{
    public static Pop3Settings Create(Config config)
    {
        var c = config.GetConfig("engine.pop3") ?? throw new ConfigurationException("engine.pop3 is missing");
        var listen = c.GetStringList("listen").Select(l => IPEndPoint.TryParse(l, out var e) ? e : throw new ConfigurationException($"engine.pop3.listen: '{l}'"))
            .ToArray();
        var settings = new Pop3Settings(config.GetString("engine.hostname"), listen, c.GetInt("max-connections", 1000),
            c.GetInt("max-connections-per-ip", 20), c.GetTimeSpan("idle-timeout", TimeSpan.FromMinutes(10)),
            c.GetTimeSpan("auth-failure-delay", TimeSpan.FromSeconds(2)), c.GetInt("max-auth-failures", 3), c.GetInt("max-errors", 10));
        if (settings.MaxConnections < 1 || settings.MaxConnectionsPerIp < 1 || settings.MaxAuthFailures < 1 || settings.MaxErrors < 1)
            throw new ConfigurationException("engine.pop3: the connection, failure and error limits must be positive");
        return settings;
    }
}
