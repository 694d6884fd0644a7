using System.Net;
using Akka.Configuration;

namespace Engine.Web.Admin;

/// <summary>
/// The <c>engine.web</c> section for the admin API: where it listens (loopback by default), the file holding the
/// bearer token (written with a random token at the first start when missing), how many queue partitions a listing
/// asks; HTTPS with the node's certificate, and the CA whose client certificates authenticate operators instead of
/// the token.
/// </summary>
public sealed record AdminSettings(IReadOnlyList<IPEndPoint> Listen, string TokenFile, int QueuePartitions, TimeSpan AskTimeout,
    bool Https = false, string? ClientCaFile = null)
{
    public static AdminSettings Create(Config config, string dataDir)
    {
        var listen = config.GetStringList("engine.web.listen", ["127.0.0.1:8080"]).Select(text =>
            IPEndPoint.TryParse(text, out var endPoint) ? endPoint : throw new ConfigurationException($"engine.web.listen: '{text}' is not address:port")).ToArray();
        var token = config.GetString("engine.web.admin-token-file", "admin.token");
        var https = config.GetBoolean("engine.web.tls", false);
        var clientCa = config.GetString("engine.web.client-ca", "");
        if (clientCa.Length > 0 && !https)
            throw new ConfigurationException("engine.web.client-ca: client certificates need engine.web.tls = on");
        return new AdminSettings(listen, Path.IsPathRooted(token) ? token : Path.Combine(dataDir, token), config.GetInt("engine.queue.partitions", 16),
            config.GetTimeSpan("engine.web.ask-timeout", TimeSpan.FromSeconds(30)), https, clientCa.Length > 0 ? clientCa : null);
    }
}

/// <summary>The node's server certificate, with its intermediates, for the name a client asks for (SNI), for the admin API over HTTPS.</summary>
public sealed class AdminCertificate(Func<string?, System.Net.Security.SslStreamCertificateContext> select)
{
    public System.Net.Security.SslStreamCertificateContext Select(string? serverName) => select(serverName);
}
