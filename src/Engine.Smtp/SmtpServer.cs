using System.Net;
using Akka.Actor;
using Akka.Hosting;
using Engine.Filtering.Restrictions;
using Engine.Messages.Queue;
using Engine.Network;
using Engine.Network.Proxy;
using Engine.Network.Tls;
using Engine.Smtp.Server;
using Engine.Storage.Accounts;
using Engine.Storage.Blobs;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Engine.Smtp;

/// <summary>
/// The SMTP service of a node: its listeners and the parent of its sessions. Stopping it (SIGTERM) stops
/// accepting, lets sessions finish their transaction for up to shutdown-grace, then closes the rest
/// with 421; the actor system leaves the cluster after it.
/// </summary>
public sealed class SmtpServer(ActorSystem system, IRequiredActor<QueueRegionKey> queue, IBlobStore blobs, IRecipientDirectory directory,
    SmtpSettings settings, ServerTls tls, LoginGuard guard, SendRates rates, ClientRates clientRates, Restrictions restrictions,
    ILoggerFactory loggers, ProxyProtocol? proxy = null) : IHostedService
{
    private readonly ILogger _log = loggers.CreateLogger("Engine.Smtp");
    private readonly List<SmtpListener> _listeners = [];
    private readonly ConnectionCounter _counter = clientRates.Open;
    private readonly Lock _gate = new();
    private IActorRef _sessions = ActorRefs.Nobody;
    /// <summary>What a new connection gets; a reload replaces it whole, before or after the start.</summary>
    private SmtpSetup _setup = new(settings, restrictions);

    /// <summary>Where the MX listeners are bound (tests ask for port 0 and read the real one here).</summary>
    public IReadOnlyList<IPEndPoint> EndPoints => _listeners.Where(l => l.Service == SmtpService.Mx).Select(l => l.EndPoint).ToArray();

    /// <summary>Where the submission listeners are bound: with STARTTLS (587's role), and with TLS from the first byte (465's).</summary>
    public IReadOnlyList<IPEndPoint> SubmissionEndPoints(bool implicitTls) =>
        _listeners.Where(l => l.Service == new SmtpService(true, implicitTls)).Select(l => l.EndPoint).ToArray();

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var region = await queue.GetAsync(cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            _sessions = system.ActorOf(SmtpSessions.Props(region, blobs, directory, guard, rates, clientRates, _log), "smtp-sessions");
            // The listen addresses are the start's: a reload does not move them.
            foreach (var endPoint in settings.Listen)
                _listeners.Add(new SmtpListener(endPoint, () => Volatile.Read(ref _setup), tls, _sessions, _counter, _log, SmtpService.Mx, proxy));
            foreach (var endPoint in settings.SubmissionListen ?? [])
                _listeners.Add(new SmtpListener(endPoint, () => Volatile.Read(ref _setup), tls, _sessions, _counter, _log, new SmtpService(true, false), proxy));
            foreach (var endPoint in settings.SubmissionListenTls ?? [])
                _listeners.Add(new SmtpListener(endPoint, () => Volatile.Read(ref _setup), tls, _sessions, _counter, _log, new SmtpService(true, true), proxy));
            foreach (var listener in _listeners)
                listener.Start();
        }
    }

    /// <summary>
    /// A configuration reload: new connections get these settings (limits, timeouts, networks, domains) and restriction
    /// lists; open ones finish with the ones they started with, as Postfix's smtpd processes do. Listen addresses stay.
    /// </summary>
    public void Reconfigure(SmtpSettings newSettings, Restrictions newRestrictions)
    {
        lock (_gate)
        {
            Volatile.Write(ref _setup, new SmtpSetup(newSettings, newRestrictions));
            foreach (var listener in _listeners)
                listener.Reconfigure(newSettings);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var listener in _listeners)
            await listener.StopAsync().ConfigureAwait(false);
        if (system.WhenTerminated.IsCompleted)
            return; // the node left or was downed: its sessions are gone with the actor system, nothing to wait for
        Log.Draining(_log, _counter.Total, settings.ShutdownGrace);
        try
        {
            await _sessions.Ask<SmtpSessions.Drained>(SmtpSessions.Drain.Instance, settings.ShutdownGrace, cancellationToken)
                .ConfigureAwait(false);
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException or OperationCanceledException)
        {
            _sessions.Tell(SmtpSessions.AbortAll.Instance);
            try
            {
                await _sessions.Ask<SmtpSessions.Drained>(SmtpSessions.Drain.Instance, TimeSpan.FromSeconds(5), CancellationToken.None)
                    .ConfigureAwait(false);
            }
            catch (AskTimeoutException)
            {
            }
        }
    }
}
