using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Hosting;
using Engine.Messages.Mailbox;
using Engine.Network;
using Engine.Network.Proxy;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Engine.Mailbox.Access;

/// <summary>
/// A mail access service of a node (POP3, IMAP): its listeners, with the node's and each address's connection
/// limits, and its open sessions, one task each. Stopping it stops accepting, then ends the sessions.
/// </summary>
public abstract class AccessServer(IRequiredActor<MailboxRegionKey> mailboxes, AccessSettings settings, ILogger log, string service, ProxyProtocol? proxy)
    : IHostedService
{
    private readonly List<ConnectionListener> _listeners = [];

    protected AccessSettings Settings { get; } = settings;
    private readonly ConnectionCounter _counter = new();
    private readonly ConcurrentDictionary<Task, bool> _sessions = new();
    private readonly CancellationTokenSource _stop = new();

    /// <summary>Where the listeners are bound (tests ask for port 0 and read the real one here).</summary>
    public IReadOnlyList<IPEndPoint> EndPoints => _listeners.Select(l => l.EndPoint).ToArray();

    private readonly List<ConnectionListener> _tlsListeners = [];

    /// <summary>Where the listeners with TLS from the first byte are bound.</summary>
    public IReadOnlyList<IPEndPoint> TlsEndPoints => _tlsListeners.Select(l => l.EndPoint).ToArray();

    /// <summary>
    /// One session on an accepted socket, until it ends or <paramref name="stop"/>; <paramref name="implicitTls"/>:
    /// it came to a TLS listener, so the handshake comes before the greeting.
    /// </summary>
    protected abstract Task RunSessionAsync(Socket socket, IPAddress remote, IActorRef mailboxes, bool implicitTls, CancellationToken stop);

    /// <summary>What a client over a connection limit is told before the socket closes.</summary>
    protected abstract byte[] Refusal(string reason);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var region = await mailboxes.GetAsync(cancellationToken).ConfigureAwait(false);
        ConnectionListener Listener(IPEndPoint endPoint, bool implicitTls) =>
            new(endPoint, _counter, new ConnectionLimits(Settings.MaxConnections, Settings.MaxConnectionsPerIp),
                (socket, address, leave) => Run(socket, address, leave, region, implicitTls),
                // over TLS a refusal would need a handshake first: the connection just closes
                (socket, _, reason) => implicitTls ? Task.CompletedTask : socket.SendAsync(Refusal(reason)),
                (e, address) => AccessLog.Disconnected(log, service, e.Message, address.ToString()), proxy);
        _listeners.AddRange(Settings.Listen.Select(e => Listener(e, false)));
        _tlsListeners.AddRange((Settings.ListenTls ?? []).Select(e => Listener(e, true)));
        foreach (var listener in _listeners.Concat(_tlsListeners))
        {
            AccessLog.Listening(log, service, listener.EndPoint.ToString());
            listener.Start();
        }
    }

    private void Run(Socket socket, IPAddress address, Action leave, IActorRef region, bool implicitTls)
    {
        var protocol = service.ToLowerInvariant();
        AccessMetrics.Opened(protocol);
        var task = Task.Run(() => RunSessionAsync(socket, address, region, implicitTls, _stop.Token));
        _sessions[task] = true;
        task.ContinueWith(t =>
        {
            _sessions.TryRemove(t, out _);
            AccessMetrics.Closed(protocol);
            leave();
        }, TaskScheduler.Default);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var listener in _listeners.Concat(_tlsListeners))
            await listener.StopAsync().ConfigureAwait(false);
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_sessions.Keys).WaitAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>The log lines every access service writes (event ids 1290-1299).</summary>
internal static partial class AccessLog
{
    [LoggerMessage(1290, LogLevel.Information, "{Service}: listening on {EndPoint}")]
    public static partial void Listening(ILogger logger, string service, string endPoint);

    [LoggerMessage(1291, LogLevel.Information, "{Service}-login: Disconnected: {Why}, rip={Remote}")]
    public static partial void Disconnected(ILogger logger, string service, string why, string remote);
}
