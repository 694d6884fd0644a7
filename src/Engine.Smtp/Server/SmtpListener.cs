using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Akka.Actor;
using Microsoft.Extensions.Logging;

namespace Engine.Smtp.Server;

/// <summary>
/// Accepts connections on one endpoint and hands each to a new session, after the connection limits:
/// the total on this node and the number from one client address (Postfix's
/// smtpd_client_connection_count_limit). Over a limit the client gets 421 4.7.0 and the socket closes.
/// </summary>
internal sealed class SmtpListener : IDisposable
{
    private readonly Socket _socket;
    private readonly SmtpSettings _settings;
    private readonly IActorRef _sessions;
    private readonly ILogger _log;
    private readonly ConnectionCounter _counter;
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;

    public SmtpListener(IPEndPoint endPoint, SmtpSettings settings, IActorRef sessions, ConnectionCounter counter, ILogger log)
    {
        _settings = settings;
        _sessions = sessions;
        _counter = counter;
        _log = log;
        _socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
            _socket.DualMode = false;
        _socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _socket.Bind(endPoint);
        _socket.Listen(512);
        EndPoint = (IPEndPoint)_socket.LocalEndPoint!;
    }

    /// <summary>The bound endpoint (with the real port when 0 was asked for).</summary>
    public IPEndPoint EndPoint { get; }

    public void Start()
    {
        Log.Listening(_log, EndPoint.ToString());
        _loop = Task.Run(AcceptLoopAsync);
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _socket.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_stop.IsCancellationRequested)
                    return;
                continue;
            }
            var address = IPAddress.None;
            var entered = false;
            try
            {
                client.NoDelay = true;
                address = (client.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
                var refusal = _counter.TryEnter(address, _settings.MaxConnections, _settings.MaxConnectionsPerIp);
                if (refusal is not null)
                {
                    _ = RefuseAsync(client, address, refusal);
                    continue;
                }
                entered = true;
                var connection = new SmtpConnection(client, _settings);
                var leaving = address;
                _sessions.Tell(new SmtpSessions.Start(connection, () => _counter.Leave(leaving)));
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
            {
                // The client went away between accept and start: give its slot back and go on accepting.
                if (entered)
                    _counter.Leave(address);
                client.Dispose();
                Log.SessionError(_log, e, $"unknown[{address}]");
            }
        }
    }

    private async Task RefuseAsync(Socket client, IPAddress address, string reason)
    {
        var reply = $"421 4.7.0 {_settings.Hostname} Error: {reason}\r\n";
        Log.ConnectionRefused(_log, $"unknown[{address}]", reply.TrimEnd());
        try
        {
            await client.SendAsync(Encoding.ASCII.GetBytes(reply)).ConfigureAwait(false);
            client.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        finally
        {
            client.Dispose();
        }
    }

    /// <summary>Stops accepting; open sessions go on.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        await _loop.ConfigureAwait(false);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _socket.Dispose();
        _stop.Dispose();
    }
}

/// <summary>Open connections on this node, in total and per client address.</summary>
internal sealed class ConnectionCounter
{
    private readonly ConcurrentDictionary<IPAddress, int> _perAddress = new();
    private int _total;

    public int Total => Volatile.Read(ref _total);

    /// <summary>Counts a new connection, or says why it is refused.</summary>
    public string? TryEnter(IPAddress address, int maxTotal, int maxPerAddress)
    {
        if (Interlocked.Increment(ref _total) > maxTotal)
        {
            Interlocked.Decrement(ref _total);
            return "too many connections";
        }
        var count = _perAddress.AddOrUpdate(address, 1, (_, n) => n + 1);
        if (count > maxPerAddress)
        {
            Leave(address);
            return $"too many connections from {address}";
        }
        return null;
    }

    public void Leave(IPAddress address)
    {
        Interlocked.Decrement(ref _total);
        // Remove the entry when it drops to zero, so the table does not grow with every client ever seen.
        while (_perAddress.TryGetValue(address, out var n))
        {
            if (n <= 1 ? _perAddress.TryRemove(KeyValuePair.Create(address, n)) : _perAddress.TryUpdate(address, n - 1, n))
                return;
        }
    }
}
