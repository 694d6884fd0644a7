using System.Net;
using System.Net.NetworkInformation;
using Akka.Configuration;
using Engine.Delivery.Smtp;

namespace Engine.Delivery;

/// <summary>The <c>engine.delivery</c> settings a destination works by.</summary>
/// <param name="Helo">The name this host gives in EHLO.</param>
/// <param name="InitialConcurrency">Sessions at first (Postfix's initial_destination_concurrency).</param>
/// <param name="Concurrency">The most sessions at once (default_destination_concurrency_limit).</param>
/// <param name="FailedCohortLimit">Failed pseudo-cohorts before a destination is dead.</param>
/// <param name="DeadTime">How long a dead destination's mail is deferred without trying.</param>
/// <param name="CacheTime">How long an idle session waits for the next message (smtp_connection_cache_time_limit).</param>
/// <param name="ReuseTime">How long one session may be used for (smtp_connection_reuse_time_limit).</param>
/// <param name="Tls">Opportunistic STARTTLS (smtp_tls_security_level = may) or none.</param>
/// <param name="SmtpPort">The port of MX hosts.</param>
/// <param name="Own">This node's SMTP listeners: an MX host there is this node itself.</param>
public sealed record DeliverySettings(string Helo, int InitialConcurrency, int Concurrency, int FailedCohortLimit, TimeSpan DeadTime,
    TimeSpan CacheTime, TimeSpan ReuseTime, bool Tls, int SmtpPort, SmtpClientTimeouts Timeouts, IReadOnlyList<IPEndPoint>? Own = null)
{
    private static readonly Lazy<HashSet<IPAddress>> LocalAddresses = new(() => NetworkInterface.GetAllNetworkInterfaces()
        .SelectMany(n => n.GetIPProperties().UnicastAddresses).Select(u => u.Address).ToHashSet());

    /// <summary>Whether a server is this node: one of its listeners, or a local address where it listens on all of them.</summary>
    public bool IsSelf(IPEndPoint server) => (Own ?? []).Any(own => own.Port == server.Port
        && (own.Address.Equals(server.Address) || ((own.Address.Equals(IPAddress.Any) || own.Address.Equals(IPAddress.IPv6Any))
                                                   && (IPAddress.IsLoopback(server.Address) || LocalAddresses.Value.Contains(server.Address)))));

    /// <summary>engine.delivery.timeouts: the SMTP client's limit at each stage, each positive.</summary>
    private static SmtpClientTimeouts TimeoutsOf(Config delivery)
    {
        var d = SmtpClientTimeouts.Default;
        var timeouts = new SmtpClientTimeouts(
            delivery.GetTimeSpan("timeouts.connect", d.Connect), delivery.GetTimeSpan("timeouts.command", d.Command),
            delivery.GetTimeSpan("timeouts.data-transfer", d.DataBlock), delivery.GetTimeSpan("timeouts.data-done", d.DataDone));
        if (timeouts.Connect <= TimeSpan.Zero || timeouts.Command <= TimeSpan.Zero || timeouts.DataBlock <= TimeSpan.Zero || timeouts.DataDone <= TimeSpan.Zero)
            throw new ConfigurationException("engine.delivery.timeouts: connect, command, data-transfer and data-done must be positive");
        return timeouts;
    }

    public static DeliverySettings Create(Config config, string helo, IReadOnlyList<IPEndPoint>? own = null)
    {
        var c = config.GetConfig("engine.delivery") ?? throw new ConfigurationException("engine.delivery is missing");
        var tls = c.GetString("tls", "may");
        if (tls is not ("may" or "none"))
            throw new ConfigurationException($"engine.delivery.tls must be may or none, not '{tls}'");
        var settings = new DeliverySettings(helo, c.GetInt("initial-concurrency", 5), c.GetInt("concurrency", 20), c.GetInt("failed-cohort-limit", 1),
            c.GetTimeSpan("dead-destination-time", TimeSpan.FromSeconds(300)), c.GetTimeSpan("connection-cache-time", TimeSpan.FromSeconds(2)),
            c.GetTimeSpan("connection-reuse-time", TimeSpan.FromSeconds(300)), tls == "may", c.GetInt("smtp-port", 25), TimeoutsOf(c), own);
        if (settings.InitialConcurrency < 1 || settings.Concurrency < 1 || settings.FailedCohortLimit < 1)
            throw new ConfigurationException("engine.delivery: initial-concurrency, concurrency and failed-cohort-limit must be positive");
        return settings;
    }
}
