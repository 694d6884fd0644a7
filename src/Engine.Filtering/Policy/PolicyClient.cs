using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Engine.Protocols.Policy;

namespace Engine.Filtering.Policy;

/// <summary>
/// A connection pool to one policy server ("inet:host:port", as Postfix's check_policy_service names it):
/// each question takes an idle connection or opens one, writes the request, reads the answer's attributes.
/// A connection that fails is dropped and the question tried once more on a new one; an answer that does
/// not come within the time limit is an error (the restriction then answers 451 4.3.5, as Postfix).
/// </summary>
public sealed class PolicyClient(string spec, DnsEndPoint server, TimeSpan timeout) : IDisposable
{
    private readonly ConcurrentBag<Connection> _idle = [];

    public string Spec => spec;

    public static PolicyClient Open(string spec, TimeSpan timeout)
    {
        var rest = spec.StartsWith("inet:", StringComparison.OrdinalIgnoreCase) ? spec[5..] : spec;
        var colon = rest.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(rest[(colon + 1)..], out var port) || port is < 1 or > 65535)
            throw new FormatException($"'{spec}' is not inet:host:port");
        return new PolicyClient(spec, new DnsEndPoint(rest[..colon].Trim('[', ']'), port), timeout);
    }

    /// <summary>The answer's attributes ("action" among them).</summary>
    public async Task<IReadOnlyDictionary<string, string>> AskAsync(IEnumerable<KeyValuePair<string, string>> request, CancellationToken cancel)
    {
        var text = Encoding.UTF8.GetBytes(PolicyAttributes.Format(request));
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        limit.CancelAfter(timeout);
        for (var attempt = 0; ; attempt++)
        {
            var reused = _idle.TryTake(out var connection);
            connection ??= await Connection.OpenAsync(server, limit.Token).ConfigureAwait(false);
            try
            {
                var answer = await connection.AskAsync(text, limit.Token).ConfigureAwait(false);
                _idle.Add(connection);
                return answer;
            }
            catch (Exception e) when (e is IOException or SocketException or FormatException && reused && attempt == 0)
            {
                connection.Dispose(); // a kept connection the server closed meanwhile: once more on a new one
            }
            catch
            {
                connection.Dispose();
                throw;
            }
        }
    }

    public void Dispose()
    {
        while (_idle.TryTake(out var connection))
            connection.Dispose();
    }

    private sealed class Connection(TcpClient tcp, StreamReader reader, Stream stream) : IDisposable
    {
        public static async Task<Connection> OpenAsync(DnsEndPoint server, CancellationToken cancel)
        {
            var tcp = new TcpClient { NoDelay = true };
            try
            {
                await tcp.ConnectAsync(server.Host, server.Port, cancel).ConfigureAwait(false);
            }
            catch
            {
                tcp.Dispose();
                throw;
            }
            var stream = tcp.GetStream();
            return new Connection(tcp, new StreamReader(stream, Encoding.UTF8, false, 1024), stream);
        }

        public async Task<IReadOnlyDictionary<string, string>> AskAsync(byte[] request, CancellationToken cancel)
        {
            await stream.WriteAsync(request, cancel).ConfigureAwait(false);
            var block = new PolicyAttributes.Reader();
            var buffer = new StringBuilder();
            while (true)
            {
                var line = await PolicyAttributes.ReadLineAsync(reader, buffer, cancel).ConfigureAwait(false)
                    ?? throw new IOException("the policy server closed the connection");
                if (block.Take(line) is { } answer)
                    return answer;
            }
        }

        public void Dispose() => tcp.Dispose();
    }
}
