using System.Net.Sockets;
using System.Text;

namespace Engine.Integration.Tests.Support;

/// <summary>A bare TCP IMAP client: sends exactly the text it is given and reads the lines up to a tagged reply.</summary>
public sealed class RawImap : IDisposable
{
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly StreamReader _reader;

    private RawImap(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
        _reader = new StreamReader(_stream, Encoding.UTF8);
    }

    /// <summary>Connects and reads the greeting.</summary>
    public static async Task<RawImap> GreetedAsync(int port, string from = "127.0.0.1")
    {
        var client = new TcpClient(new System.Net.IPEndPoint(System.Net.IPAddress.Parse(from), 0));
        await client.ConnectAsync("127.0.0.1", port);
        var imap = new RawImap(client);
        Assert.StartsWith("* OK [CAPABILITY", await imap._reader.ReadLineAsync());
        return imap;
    }

    /// <summary>Sends <paramref name="text"/>; the lines until one starting with <paramref name="tag"/>, "* BYE" or "+".</summary>
    public async Task<string> ExchangeAsync(string text, string tag)
    {
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(text));
        var lines = new StringBuilder();
        while (await _reader.ReadLineAsync() is { } line)
        {
            lines.Append(line).Append('\n');
            if (line.StartsWith(tag + " ", StringComparison.Ordinal) || line.StartsWith("* BYE", StringComparison.Ordinal) || line.StartsWith('+'))
                break;
        }
        return lines.ToString();
    }

    public void Dispose() => _client.Dispose();
}
