using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Engine.Integration.Tests.Support;

/// <summary>A bare TCP client that sends exactly the octets it is given and reads SMTP replies.</summary>
public sealed class RawSmtp : IAsyncDisposable
{
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly StreamReader _reader;

    private RawSmtp(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
        _reader = new StreamReader(_stream, Encoding.UTF8);
    }

    public static async Task<RawSmtp> ConnectAsync(int port, string from = "127.0.0.1")
    {
        var client = new TcpClient(new IPEndPoint(IPAddress.Parse(from), 0));
        await client.ConnectAsync(IPAddress.Loopback, port);
        return new RawSmtp(client);
    }

    /// <summary>Connects and reads the 220 greeting.</summary>
    public static async Task<RawSmtp> GreetedAsync(int port, string from = "127.0.0.1")
    {
        var smtp = await ConnectAsync(port, from);
        Assert.Equal(220, (await smtp.ReadAsync()).Code);
        return smtp;
    }

    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text));

    /// <summary>
    /// One whole message in a session of its own: EHLO, MAIL, a RCPT for each recipient, DATA with
    /// <paramref name="text"/> (without the final dot); each step must be accepted. Returns the queue id.
    /// </summary>
    public static async Task<string> SendMessageAsync(int port, string from, string text, params string[] to)
    {
        await using var smtp = await GreetedAsync(port);
        Assert.Equal(250, (await smtp.CommandAsync("EHLO client.test")).Code);
        Assert.Equal(250, (await smtp.CommandAsync($"MAIL FROM:<{from}>")).Code);
        foreach (var rcpt in to)
            Assert.Equal(250, (await smtp.CommandAsync($"RCPT TO:<{rcpt}>")).Code);
        Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
        var reply = await smtp.CommandAsync(text + "\r\n.");
        Assert.Equal(250, reply.Code);
        return reply.Last.Split(' ')[^1];
    }

    public async Task SendAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    /// <summary>Sends a line (CRLF added) and reads one reply.</summary>
    public async Task<Reply> CommandAsync(string line)
    {
        await SendAsync(line + "\r\n");
        return await ReadAsync();
    }

    public async Task<Reply> ReadAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        var lines = new List<string>();
        while (true)
        {
            var line = await _reader.ReadLineAsync(cts.Token) ?? throw new EndOfStreamException("connection closed; got: " + string.Join("|", lines));
            lines.Add(line);
            if (line.Length < 4 || line[3] != '-')
                return new Reply(int.Parse(line[..3]), lines);
        }
    }

    /// <summary>True when the server has closed the connection (reads EOF) within the time.</summary>
    public async Task<bool> IsClosedAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        try
        {
            return await _reader.ReadLineAsync(cts.Token) is null;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>Ends the connection with a reset (RST) instead of a close, as some clients do.</summary>
    public void Reset()
    {
        _client.Client.LingerState = new LingerOption(true, 0);
        _client.Client.Close();
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await Task.CompletedTask;
    }

    public sealed record Reply(int Code, IReadOnlyList<string> Lines)
    {
        public string Last => Lines[^1];

        /// <summary>The enhanced status code of the last line ("5.5.2"), or "" when there is none.</summary>
        public string Enhanced => Last.Length > 4 && char.IsDigit(Last[4]) ? Last[4..].Split(' ')[0] : "";

        public override string ToString() => string.Join(" | ", Lines);
    }
}
