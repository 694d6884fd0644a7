using Akka.Configuration;
using Engine.Messages.Cluster;
using Engine.Web.Admin;
using Microsoft.Extensions.Logging;

namespace Engine.Host.Configuration;

/// <summary>Where the node's configuration comes from: the <c>--config</c> file (if any) and the <c>--set</c> settings.</summary>
public sealed record ConfigSource(string? File, IReadOnlyList<string> Settings);

/// <summary>
/// Reads the configuration again (SIGHUP, enginectl config reload) and hands the new values to the parts that take
/// them while running: the SMTP settings and restriction lists with their maps, TLS certificates and protocols, the
/// transport map and relayhost. First every part is built from the new file; only when all of them are, are they
/// all installed, so a file that is wrong anywhere changes nothing. Settings that only a restart applies (listen
/// addresses, the data directory, the cluster, ...) are reported as such.
/// </summary>
public sealed class ConfigReloader(ConfigSource? source, Config initial, Func<string> node, ILogger log)
{
    /// <summary>What a reload applies: these settings and everything under them, but for <see cref="RestartOnly"/>.</summary>
    private static readonly string[] Reloadable =
    [
        "engine.smtp.", "engine.submission.", "engine.tls.", "engine.delivery.transport", "engine.delivery.relayhost",
        "engine.greylist.allow-clients", "engine.greylist.allow-recipients",
    ];

    private static readonly string[] RestartOnly =
    [
        "engine.smtp.listen", "engine.smtp.shutdown-grace", "engine.smtp.anvil-rate-time-unit", "engine.smtp.client-connection-rate-limit",
        "engine.smtp.client-message-rate-limit", "engine.smtp.client-recipient-rate-limit", "engine.submission.listen",
        "engine.submission.rate-window", "engine.submission.message-rate-limit", "engine.submission.recipient-rate-limit",
    ];

    private readonly List<Func<Config, Action>> _parts = [];
    private readonly Lock _one = new();
    private Config _current = initial;

    /// <summary>The configuration running now.</summary>
    public Config Current => Volatile.Read(ref _current);

    /// <summary>
    /// A part that takes new values: <paramref name="prepare"/> builds them from a new configuration (throwing
    /// <see cref="ConfigurationException"/> when they are wrong) and returns what installs them, which must not fail.
    /// </summary>
    public void Add(Func<Config, Action> prepare) => _parts.Add(prepare);

    /// <summary>Reads the file again and applies it, or refuses it whole; never throws (a refusal is the answer).</summary>
    public ConfigReloaded Reload()
    {
        lock (_one)
        {
            Config next;
            var install = new List<Action>();
            try
            {
                IReadOnlyDictionary<string, int> lines;
                (next, lines) = source is null ? (Current, new Dictionary<string, int>()) : EngineConfig.Read(source.File, source.Settings);
                foreach (var part in _parts)
                {
                    try
                    {
                        install.Add(part(next));
                    }
                    catch (Exception e) when (e is not OutOfMemoryException)
                    {
                        // A setting the engine refuses, a certificate whose key does not match, a file it may not read: all refusals.
                        throw new ConfigurationException(EngineConfig.Locate(e.Message, source?.File, lines));
                    }
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Log.Refused(log, e.Message);
                return new ConfigReloaded(node(), false, e.Message, [], []);
            }
            var changed = Changes(Current, next);
            try
            {
                foreach (var apply in install)
                    apply();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Log.ApplyFailed(log, e);
                return new ConfigReloaded(node(), false, "applying failed part-way: " + e.Message, [], []);
            }
            Volatile.Write(ref _current, next);
            var restart = changed.Where(NeedsRestart).ToArray();
            Log.Reloaded(log, changed.Count, changed.Count == 0 ? "none" : string.Join(", ", changed));
            if (restart.Length > 0)
                Log.NeedRestart(log, string.Join(", ", restart));
            return new ConfigReloaded(node(), true, null, changed, restart);
        }
    }

    /// <summary>The settings under engine whose values differ (secrets compare as hidden, so a changed password is not named).</summary>
    private static IReadOnlyList<string> Changes(Config before, Config after)
    {
        var old = ConfigAdmin.Flatten(before).ToDictionary(s => s.Key, s => s.Value, StringComparer.Ordinal);
        var now = ConfigAdmin.Flatten(after).ToDictionary(s => s.Key, s => s.Value, StringComparer.Ordinal);
        return old.Keys.Union(now.Keys).Where(k => !old.TryGetValue(k, out var a) || !now.TryGetValue(k, out var b) || a != b)
            .Order(StringComparer.Ordinal).ToArray();
    }

    private static bool NeedsRestart(string key) =>
        !Reloadable.Any(p => key.StartsWith(p, StringComparison.Ordinal))
        || RestartOnly.Any(p => key == p || key.StartsWith(p + ".", StringComparison.Ordinal) || key.StartsWith(p + "-", StringComparison.Ordinal));
}

internal static partial class Log
{
    [LoggerMessage(EventId = 900, Level = LogLevel.Information, Message = "reload: configuration applied, {Count} settings changed: {Keys}")]
    public static partial void Reloaded(ILogger logger, int count, string keys);

    [LoggerMessage(EventId = 901, Level = LogLevel.Warning, Message = "reload: these changes take effect at the next restart: {Keys}")]
    public static partial void NeedRestart(ILogger logger, string keys);

    [LoggerMessage(EventId = 902, Level = LogLevel.Error, Message = "reload: refused, the running configuration stays: {Reason}")]
    public static partial void Refused(ILogger logger, string reason);

    [LoggerMessage(EventId = 903, Level = LogLevel.Error, Message = "reload: applying the new configuration failed part-way")]
    public static partial void ApplyFailed(ILogger logger, Exception error);
}
