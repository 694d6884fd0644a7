using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Engine.Network.Proxy;

namespace Engine.Network;

/// <summary>The most connections a service takes on this node, in total and from one client address.</summary>
public sealed record ConnectionLimits(int Total, int PerAddress);

/// <summary>
/// Accepts TCP connections on one endpoint for a service (SMTP, POP3, ...) and hands each on, after the
/// connection limits: the total on this node and the number from one client address (Postfix's
/// smtpd_client_connection_count_limit). Over a limit the service says no in its own words and the socket
/// closes. The service's handler gets the socket and the action that gives its slot back.
/// </summary>
public sealed class ConnectionListener : IDisposable
{
    private readonly Socket _socket;
    private readonly ConnectionCounter _counter;
    private ConnectionLimits _limits;
    private readonly Action<Socket, IPAddress, Action> _accepted;
    private readonly Func<Socket, IPAddress, string, Task> _refuse;
    private readonly Action<Exception, IPAddress> _failed;
    private readonly CancellationTokenSource _stop = new();
    private readonly ProxyProtocol? _proxy;
    private Task _loop = Task.CompletedTask;

    /// <param name="accepted">Takes the connection (socket, client address, give the slot back when done).</param>
    /// <param name="refuse">Tells a client over a limit why (socket, client address, reason); the listener closes it after.</param>
    /// <param name="failed">A client that went away between accept and start, or whose PROXY protocol header was refused.</param>
    /// <param name="proxy">When it names this endpoint, every connection starts with a PROXY protocol v2 header that says who the client is.</param>
    public ConnectionListener(IPEndPoint endPoint, ConnectionCounter counter, ConnectionLimits limits, Action<Socket, IPAddress, Action> accepted,
        Func<Socket, IPAddress, string, Task> refuse, Action<Exception, IPAddress> failed, ProxyProtocol? proxy = null)
    {
        _proxy = proxy?.On(endPoint) == true ? proxy : null;
        _counter = counter;
        _limits = limits;
        _accepted = accepted;
        _refuse = refuse;
        _failed = failed;
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

    /// <summary>The limits new connections meet; a configuration reload sets them.</summary>
    public ConnectionLimits Limits
    {
        get => Volatile.Read(ref _limits);
        set => Volatile.Write(ref _limits, value);
    }

    public void Start() => _loop = Task.Run(AcceptLoopAsync);

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
            if (_proxy is null)
                Admit(client, PeerOf(client));
            else
                _ = AdmitProxiedAsync(client, _proxy);
        }
    }

    private static IPAddress PeerOf(Socket client)
    {
        try
        {
            return (client.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return IPAddress.None;
        }
    }

    /// <summary>A connection through a balancer: the header first (bounded in time and size), then the client it names meets the limits.</summary>
    private async Task AdmitProxiedAsync(Socket client, ProxyProtocol proxy)
    {
        var peer = PeerOf(client);
        try
        {
            if (!proxy.Trusted(peer))
                throw new InvalidDataException($"PROXY protocol listener: {peer} is not in the trusted networks");
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            timeout.CancelAfter(proxy.Timeout);
            var header = await ProxyHeader.ReadAsync(client, timeout.Token).ConfigureAwait(false);
            Admit(client, header.Source?.Address ?? peer);
        }
        catch (Exception e) when (e is InvalidDataException or OperationCanceledException or SocketException or ObjectDisposedException)
        {
            client.Dispose();
            _failed(e is OperationCanceledException ? new TimeoutException($"no PROXY protocol header within {proxy.Timeout.TotalSeconds:0.#} s") : e, peer);
        }
    }

    /// <summary>Counts the connection against the limits and hands it on, or refuses it.</summary>
    private void Admit(Socket client, IPAddress address)
    {
        var entered = false;
        try
        {
            client.NoDelay = true;
            var limits = Limits;
            var refusal = _counter.TryEnter(address, limits.Total, limits.PerAddress);
            if (refusal is not null)
            {
                _ = RefuseAsync(client, address, refusal);
                return;
            }
            entered = true;
            var leaving = address;
            _accepted(client, address, () => _counter.Leave(leaving));
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
            // The client went away between accept and start: give its slot back and go on accepting.
            if (entered)
                _counter.Leave(address);
            client.Dispose();
            _failed(e, address);
        }
    }

    private async Task RefuseAsync(Socket client, IPAddress address, string reason)
    {
        try
        {
            await _refuse(client, address, reason).ConfigureAwait(false);
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

    /// <summary>Stops accepting; open connections go on.</summary>
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

/// <summary>
/// Open connections of a service, in total on this node and per client address. With a <see cref="CountExchange"/>
/// the per-address count is the cluster's (Postfix's anvil connection count, for the farm): each node publishes
/// how many connections it holds from an address whenever that changes, and adds what the other nodes hold.
/// A node that dies takes its connections with it, so its levels are forgotten.
/// </summary>
public sealed class ConnectionCounter
{
    private readonly ConcurrentDictionary<IPAddress, int> _perAddress = new();
    private readonly ConcurrentDictionary<IPAddress, int> _elsewhere = new();
    private readonly Dictionary<(string Node, IPAddress Address), int> _levels = [];
    private readonly Lock _publishing = new();
    private readonly string _table;
    private readonly CountExchange? _exchange;
    private int _total;

    public ConnectionCounter(string table = "", CountExchange? exchange = null)
    {
        (_table, _exchange) = (table, exchange);
        exchange?.RegisterPerNode(table, Apply, Forget);
    }

    public int Total => Volatile.Read(ref _total);

    /// <summary>Connections from <paramref name="address"/> the other nodes hold, as they last said.</summary>
    public int Elsewhere(IPAddress address) => _elsewhere.GetValueOrDefault(address);

    /// <summary>Counts a new connection, or says why it is refused.</summary>
    public string? TryEnter(IPAddress address, int maxTotal, int maxPerAddress)
    {
        if (Interlocked.Increment(ref _total) > maxTotal)
        {
            Interlocked.Decrement(ref _total);
            return "too many connections";
        }
        var count = _perAddress.AddOrUpdate(address, 1, (_, n) => n + 1);
        if (count + Elsewhere(address) > maxPerAddress)
        {
            Leave(address, publish: false);
            return $"too many connections from {address}";
        }
        Publish(address);
        return null;
    }

    public void Leave(IPAddress address) => Leave(address, publish: true);

    private void Leave(IPAddress address, bool publish)
    {
        Interlocked.Decrement(ref _total);
        // Remove the entry when it drops to zero, so the table does not grow with every client ever seen.
        while (_perAddress.TryGetValue(address, out var n))
        {
            if (n <= 1 ? _perAddress.TryRemove(KeyValuePair.Create(address, n)) : _perAddress.TryUpdate(address, n - 1, n))
                break;
        }
        if (publish)
            Publish(address);
    }

    /// <summary>This node's level for the address, read and sent under one lock so the last word sent is the latest.</summary>
    private void Publish(IPAddress address)
    {
        if (_exchange is not { Shared: true })
            return;
        lock (_publishing)
            _exchange.Publish(_table, address.ToString(), _perAddress.GetValueOrDefault(address));
    }

    private void Apply(string node, string key, int level)
    {
        if (!IPAddress.TryParse(key, out var address))
            return;
        lock (_levels)
        {
            var old = _levels.GetValueOrDefault((node, address));
            level = Math.Clamp(level, 0, 1_000_000);
            if (level == 0)
                _levels.Remove((node, address));
            else
                _levels[(node, address)] = level;
            Shift(address, level - old);
        }
    }

    private void Forget(string node)
    {
        lock (_levels)
        {
            foreach (var ((from, address), level) in _levels.Where(l => l.Key.Node == node).ToArray())
            {
                _levels.Remove((from, address));
                Shift(address, -level);
            }
        }
    }

    private void Shift(IPAddress address, int by)
    {
        var total = _elsewhere.GetValueOrDefault(address) + by;
        if (total <= 0)
            _elsewhere.TryRemove(address, out _);
        else
            _elsewhere[address] = total;
    }
}
