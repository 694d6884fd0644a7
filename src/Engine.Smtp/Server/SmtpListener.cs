using System.Net;
using System.Net.Sockets;
using System.Text;
using Akka.Actor;
using Engine.Filtering.Restrictions;
using Engine.Network;
using Engine.Network.Proxy;
using Engine.Network.Tls;
using Microsoft.Extensions.Logging;

namespace Engine.Smtp.Server;

/// <summary>
/// The SMTP side of a <see cref="ConnectionListener"/>: each accepted connection becomes a session; a client
/// over a connection limit gets 421 4.7.0 and the socket closes.
/// </summary>
/// <summary>What a listener serves: the MX (port 25), or submission (587 with STARTTLS, 465 with TLS from the first byte; RFC 6409, RFC 8314).</summary>
internal sealed record SmtpService(bool Submission, bool ImplicitTls)
{
    public static readonly SmtpService Mx = new(false, false);
}

/// <summary>The settings and restriction lists a new connection gets, together (a reload replaces both at once).</summary>
internal sealed record SmtpSetup(SmtpSettings Settings, Restrictions Restrictions);

internal sealed class SmtpListener : IDisposable
{
    private readonly ConnectionListener _listener;
    private readonly Func<SmtpSetup> _setup;
    private readonly ILogger _log;

    private readonly SmtpService _service;

    public SmtpListener(IPEndPoint endPoint, Func<SmtpSetup> setup, ServerTls tls, IActorRef sessions, ConnectionCounter counter, ILogger log,
        SmtpService service, ProxyProtocol? proxy)
    {
        _setup = setup;
        _log = log;
        _service = service;
        var settings = setup().Settings;
        _listener = new ConnectionListener(endPoint, counter, new ConnectionLimits(settings.MaxConnections, settings.MaxConnectionsPerIp), (socket, address, leave) =>
            {
                var now = setup();
                sessions.Tell(new SmtpSessions.Start(new SmtpConnection(socket, address, now.Settings, tls, service), now.Settings, now.Restrictions, leave));
            },
            RefuseAsync, (e, address) =>
            {
                if (e is InvalidDataException or TimeoutException) // a refused PROXY protocol header, with its reason
                    Log.ProxyRefused(_log, $"unknown[{address}]", e.Message);
                else
                    Log.SessionError(_log, e, $"unknown[{address}]");
            }, proxy);
    }

    public SmtpService Service => _service;

    /// <summary>The connection limits of a reload, for connections accepted from now on.</summary>
    public void Reconfigure(SmtpSettings settings) => _listener.Limits = new ConnectionLimits(settings.MaxConnections, settings.MaxConnectionsPerIp);

    /// <summary>The bound endpoint (with the real port when 0 was asked for).</summary>
    public IPEndPoint EndPoint => _listener.EndPoint;

    public void Start()
    {
        Log.Listening(_log, EndPoint.ToString());
        _listener.Start();
    }

    private async Task RefuseAsync(Socket client, IPAddress address, string reason)
    {
        var reply = $"421 4.7.0 {_setup().Settings.Hostname} Error: {reason}\r\n";
        Log.ConnectionRefused(_log, $"unknown[{address}]", reply.TrimEnd());
        SmtpMetrics.Connection(_service.Submission ? "submission" : "mx", accepted: false);
        if (_service.ImplicitTls)
            return; // a refusal would need a handshake first: the connection just closes
        await client.SendAsync(Encoding.ASCII.GetBytes(reply)).ConfigureAwait(false);
    }

    /// <summary>Stops accepting; open sessions go on.</summary>
    public Task StopAsync() => _listener.StopAsync();

    public void Dispose() => _listener.Dispose();
}
