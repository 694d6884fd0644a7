using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Engine.Integration.Tests.Support;

/// <summary>
/// A receiving SMTP server on loopback whose replies a test chooses: per command, by how many times that
/// command has been seen across all connections, so a test can answer 451 to the first DATA and 250 to the
/// second. It speaks enough of RFC 5321 for a real client (EHLO with chosen extensions, pipelined commands,
/// DATA with dot-unstuffing, RSET, QUIT, and STARTTLS with a self-signed certificate), and records every
/// connection and every message it accepted.
/// </summary>
public sealed class ScriptedSmtpServer : IAsyncDisposable
{
    /// <summary>A message the server answered 250 to after DATA.</summary>
    public sealed record Received(int Connection, string From, IReadOnlyList<string> To, string Data, bool Tls);

    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Func<string, int, string?> _script;
    private readonly string[] _extensions;
    private readonly ConcurrentDictionary<string, int> _seen = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentQueue<Received> _messages = new();
    private readonly ConcurrentQueue<string> _commands = new();
    private readonly ConcurrentQueue<(string Command, bool MoreWaiting)> _arrivals = new();
    private readonly List<Task> _sessions = [];
    private readonly Task _accepting;
    private int _connections;
    private int _open;
    private int _peak;
    private X509Certificate2? _certificate;

    /// <param name="script">
    /// (command verb such as "MAIL", "RCPT", "DATA" for the reply after the message, "CONNECT" for the
    /// greeting; and how many times it has been seen, from 1) → the reply line(s), or null for the default.
    /// A reply starting with "CLOSE" closes the connection without a word, "HANG" never answers; "220 BROKEN" to STARTTLS says
    /// yes and then closes instead of the handshake.
    /// </param>
    /// <param name="bind">Where to listen; 127.0.0.1 on a free port when null.</param>
    public ScriptedSmtpServer(Func<string, int, string?>? script = null, string[]? extensions = null, IPEndPoint? bind = null)
    {
        _script = script ?? ((_, _) => null);
        _extensions = extensions ?? ["PIPELINING", "8BITMIME", "SIZE 10240000"];
        _listener = new TcpListener(bind ?? new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>How long the server thinks before it answers the end of DATA.</summary>
    public TimeSpan DataDelay { get; init; }
    public int Connections => _connections;
    public int PeakConcurrentConnections => _peak;
    public IReadOnlyCollection<Received> Messages => _messages;
    public IReadOnlyCollection<string> Commands => _commands;

    /// <summary>
    /// Each command with whether more of the client's octets were already waiting when it was read, before its reply
    /// was sent: true only for a client that pipelines (RFC 2920). Without TLS (with it, always false).
    /// </summary>
    public IReadOnlyCollection<(string Command, bool MoreWaiting)> Arrivals => _arrivals;

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            var number = Interlocked.Increment(ref _connections);
            lock (_sessions)
                _sessions.Add(Task.Run(() => SessionAsync(socket, number)));
        }
    }

    private string? Scripted(string verb) => _script(verb, _seen.AddOrUpdate(verb, 1, (_, n) => n + 1));

    private async Task SessionAsync(Socket socket, int number)
    {
        var open = Interlocked.Increment(ref _open);
        int peak;
        while (open > (peak = _peak) && Interlocked.CompareExchange(ref _peak, open, peak) != peak)
        {
        }
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            var tls = false;
            var reader = new LineReader(stream);
            if (!await ReplyAsync(stream, Scripted("CONNECT") ?? "220 scripted.test ESMTP"))
                return;
            string? from = null;
            var to = new List<string>();
            while (await reader.ReadLineAsync(_stop.Token) is { } line)
            {
                _commands.Enqueue(line);
                _arrivals.Enqueue((line, !tls && socket.Available > 0));
                var verb = line.Split(' ', 2)[0].ToUpperInvariant();
                string reply;
                switch (verb)
                {
                    case "EHLO":
                        var offered = _extensions.Where(e => !(tls && e == "STARTTLS")).ToArray();
                        reply = Scripted(verb) ?? string.Join("\r\n",
                            new[] { "scripted.test" }.Concat(offered).Select((e, i) => $"250{(i == offered.Length ? ' ' : '-')}{e}"));
                        break;
                    case "HELO":
                        reply = Scripted(verb) ?? "250 scripted.test";
                        break;
                    case "STARTTLS" when !tls && _extensions.Contains("STARTTLS"):
                        reply = Scripted(verb) ?? "220 2.0.0 Ready to start TLS";
                        if (!await ReplyAsync(stream, reply))
                            return;
                        if (!reply.StartsWith("220", StringComparison.Ordinal))
                            continue;
                        if (reply.StartsWith("220 BROKEN", StringComparison.Ordinal))
                            return;
                        var ssl = new SslStream(stream);
                        await ssl.AuthenticateAsServerAsync(Certificate(), false, false);
                        stream = ssl;
                        reader = new LineReader(stream);
                        tls = true;
                        from = null;
                        to.Clear();
                        continue;
                    case "MAIL":
                        reply = Scripted(verb) ?? "250 2.1.0 Ok";
                        if (reply.StartsWith('2'))
                            from = Between(line, '<', '>');
                        break;
                    case "RCPT":
                        reply = Scripted(verb) ?? "250 2.1.5 Ok";
                        if (reply.StartsWith('2'))
                            to.Add(Between(line, '<', '>'));
                        break;
                    case "DATA":
                        if (from is null || to.Count == 0)
                        {
                            reply = "503 5.5.1 Error: need RCPT command";
                            break;
                        }
                        if (!await ReplyAsync(stream, "354 End data with <CR><LF>.<CR><LF>"))
                            return;
                        var data = new StringBuilder();
                        while (await reader.ReadLineAsync(_stop.Token) is { } text && text != ".")
                            data.Append(text.StartsWith('.') ? text[1..] : text).Append("\r\n");
                        if (DataDelay > TimeSpan.Zero)
                            await Task.Delay(DataDelay, _stop.Token);
                        reply = Scripted("DATA") ?? $"250 2.0.0 Ok: queued as S{_messages.Count + 1}";
                        if (reply.StartsWith('2'))
                            _messages.Enqueue(new Received(number, from, to.ToArray(), data.ToString(), tls));
                        from = null;
                        to.Clear();
                        break;
                    case "BDAT" when _extensions.Contains("CHUNKING"):
                        {
                            // One chunk, "BDAT <size> LAST" (what the engine sends): the octets are read whatever the reply.
                            var parts = line.Split(' ');
                            var chunk = await reader.ReadExactlyAsync(int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture), _stop.Token);
                            if (from is null || to.Count == 0)
                            {
                                reply = "554 5.5.1 Error: no valid recipients";
                                break;
                            }
                            reply = Scripted("DATA") ?? $"250 2.0.0 Ok: queued as S{_messages.Count + 1}";
                            if (reply.StartsWith('2'))
                                _messages.Enqueue(new Received(number, from, to.ToArray(), Encoding.UTF8.GetString(chunk), tls));
                            from = null;
                            to.Clear();
                            break;
                        }
                    case "RSET":
                        from = null;
                        to.Clear();
                        reply = Scripted(verb) ?? "250 2.0.0 Ok";
                        break;
                    case "NOOP":
                        reply = "250 2.0.0 Ok";
                        break;
                    case "QUIT":
                        await ReplyAsync(stream, "221 2.0.0 Bye");
                        return;
                    default:
                        reply = "502 5.5.2 Error: command not recognized";
                        break;
                }
                if (!await ReplyAsync(stream, reply))
                    return;
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or SocketException or ObjectDisposedException
                                      or System.Security.Authentication.AuthenticationException)
        {
            // the client went away
        }
        finally
        {
            Interlocked.Decrement(ref _open);
            await stream.DisposeAsync();
        }
    }

    /// <summary>
    /// Writes a reply; false (and nothing written) for "CLOSE", which ends the session. "HANG" says nothing and keeps the
    /// connection open until the server is disposed (a server that stops answering).
    /// </summary>
    private async Task<bool> ReplyAsync(Stream stream, string reply)
    {
        if (reply.StartsWith("CLOSE", StringComparison.Ordinal))
            return false;
        if (reply.StartsWith("HANG", StringComparison.Ordinal))
        {
            await Task.Delay(Timeout.Infinite, _stop.Token);
            return false;
        }
        await stream.WriteAsync(Encoding.ASCII.GetBytes(reply + "\r\n"), _stop.Token);
        await stream.FlushAsync(_stop.Token);
        return true;
    }

    private static string Between(string line, char open, char close)
    {
        var a = line.IndexOf(open);
        var b = line.IndexOf(close, a + 1);
        return a >= 0 && b > a ? line[(a + 1)..b] : "";
    }

    private X509Certificate2 Certificate()
    {
        if (_certificate is not null)
            return _certificate;
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=scripted.test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var made = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        // A certificate with an exportable key, as SslStream on Linux needs it.
        return _certificate = X509CertificateLoader.LoadPkcs12(made.Export(X509ContentType.Pkcs12), null);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        Task[] sessions;
        lock (_sessions)
            sessions = [.. _sessions];
        await Task.WhenAll(sessions);
        _certificate?.Dispose();
        _stop.Dispose();
    }

    /// <summary>CRLF-terminated lines from a stream, one byte at a time (a test server need not be fast).</summary>
    private sealed class LineReader(Stream stream)
    {
        private readonly byte[] _one = new byte[1];

        public async Task<byte[]> ReadExactlyAsync(int count, CancellationToken ct)
        {
            var bytes = new byte[count];
            await stream.ReadExactlyAsync(bytes, ct);
            return bytes;
        }

        public async Task<string?> ReadLineAsync(CancellationToken ct)
        {
            var line = new List<byte>();
            while (true)
            {
                if (await stream.ReadAsync(_one, ct) == 0)
                    return null;
                if (_one[0] == '\n')
                    return Encoding.UTF8.GetString(line.ToArray()).TrimEnd('\r');
                line.Add(_one[0]);
            }
        }
    }
}
