using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Akka.Actor;
using Akka.Hosting;
using Engine.Messages.Mailbox;
using Engine.Network;
using Engine.Storage.Accounts;
using Engine.Storage.Maildir;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Engine.Mailbox.Pop3;

/// <summary>
/// The POP3 service of a node (RFC 1939): its listeners and its open sessions, one
/// <see cref="Pop3Connection"/> each. Stopping it stops accepting and closes the sessions; a session that
/// had not reached QUIT removes nothing (RFC 1939 section 6: no UPDATE without QUIT).
/// </summary>
public sealed class Pop3Server(IRequiredActor<MailboxRegionKey> mailboxes, IRecipientDirectory directory, MaildirStore maildir,
    Pop3Settings settings, ILoggerFactory loggers) : IHostedService
{
    private readonly ILogger _log = loggers.CreateLogger("Engine.Pop3");
    private readonly List<ConnectionListener> _listeners = [];
    private readonly ConnectionCounter _counter = new();
    private readonly ConcurrentDictionary<Task, bool> _sessions = new();
    private readonly CancellationTokenSource _stop = new();

    /// <summary>Where the listeners are bound (tests ask for port 0 and read the real one here).</summary>
    public IReadOnlyList<IPEndPoint> EndPoints => _listeners.Select(l => l.EndPoint).ToArray();

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var region = await mailboxes.GetAsync(cancellationToken).ConfigureAwait(false);
        foreach (var endPoint in settings.Listen)
        {
            _listeners.Add(new ConnectionListener(endPoint, _counter, new ConnectionLimits(settings.MaxConnections, settings.MaxConnectionsPerIp),
                (socket, address, leave) => Run(socket, address, leave, region), RefuseAsync,
                (e, address) => Pop3Log.Disconnected(_log, e.Message, address.ToString())));
        }
        foreach (var listener in _listeners)
        {
            Pop3Log.Listening(_log, listener.EndPoint.ToString());
            listener.Start();
        }
    }

    private void Run(Socket socket, IPAddress address, Action leave, IActorRef region)
    {
        var connection = new Pop3Connection(socket, address, settings, region, directory, maildir, _log);
        var task = Task.Run(() => connection.RunAsync(_stop.Token));
        _sessions[task] = true;
        task.ContinueWith(t =>
        {
            _sessions.TryRemove(t, out _);
            leave();
        }, TaskScheduler.Default);
    }

    private static Task RefuseAsync(Socket socket, IPAddress address, string reason) =>
        socket.SendAsync(Encoding.ASCII.GetBytes($"-ERR [SYS/TEMP] {reason}\r\n"));

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var listener in _listeners)
            await listener.StopAsync().ConfigureAwait(false);
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_sessions.Keys).WaitAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
    }
}
