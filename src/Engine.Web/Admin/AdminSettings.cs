using System.Net;
using Akka.Configuration;

namespace Engine.Web.Admin;

/// <summary>
/// The <c>engine.web</c> section for the admin API: where it listens (loopback by default), the file holding the
/// bearer token (written with a random token at the first start when missing), and how many queue partitions
/// a listing asks.
/// </summary>
public sealed record AdminSettings(IReadOnlyList<IPEndPoint> Listen, string TokenFile, int QueuePartitions, TimeSpan AskTimeout)
{
    public static AdminSettings Create(Config config, string dataDir)
    {
        var listen = config.GetStringList("engine.web.listen", ["127.0.0.1:8080"]).Select(text =>
            IPEndPoint.TryParse(text, out var endPoint) ? endPoint : throw new ConfigurationException($"engine.web.listen: '{text}' is not address:port")).ToArray();
        var token = config.GetString("engine.web.admin-token-file", "admin.token");
        return new AdminSettings(listen, Path.IsPathRooted(token) ? token : Path.Combine(dataDir, token), config.GetInt("engine.queue.partitions", 16),
            config.GetTimeSpan("engine.web.ask-timeout", TimeSpan.FromSeconds(30)));
    }
}
