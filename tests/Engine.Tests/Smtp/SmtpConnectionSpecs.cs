using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using System.Threading.Channels;
using Akka.Actor;
using Engine.Host;
using Engine.Network.Tls;
using Engine.Protocols.Smtp;
using Engine.Smtp;
using Engine.Smtp.Server;

namespace Engine.Tests.Smtp;

/// <summary>The connection's loops over a real loopback socket, with an actor that records what the session would get.</summary>
public sealed class SmtpConnectionSpecs : IAsyncLifetime
{
    private readonly ActorSystem _system = ActorSystem.Create("smtp-connection-specs");
    private readonly string _dir = Directory.CreateTempSubdirectory("smtp-connection-specs").FullName;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        await _system.Terminate();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Nothing_after_QUIT_is_read()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!);
        var server = await listener.AcceptAsync();

        var settings = SmtpSettings.Create(EngineConfig.Defaults());
        var tls = new ServerTls(CertificateStore.Open([], _dir, "mx.test", TimeSpan.FromMinutes(1), _ => { }), SslProtocols.Tls12, TimeSpan.FromSeconds(5));
        var connection = new SmtpConnection(server, IPAddress.Loopback, settings, tls, SmtpService.Mx);
        var heard = Channel.CreateUnbounded<object>();
        var session = _system.ActorOf(Props.Create(typeof(Recorder), heard.Writer));
        var run = connection.RunAsync(session);

        // A client that sends on after QUIT, in the same packet.
        await client.SendAsync(Encoding.ASCII.GetBytes("NOOP\r\nQUIT\r\nNOOP\r\nRSET\r\n"));
        Assert.IsType<NoopCommand>(Assert.IsType<SessionInput.Command>(await ReadAsync(heard)).Value);
        Assert.IsType<QuitCommand>(Assert.IsType<SessionInput.Command>(await ReadAsync(heard)).Value);
        // The input ends there, as if the client had closed; the two commands after QUIT never reach the session.
        Assert.IsType<SessionInput.Closed>(await ReadAsync(heard));

        connection.Close();
        await run.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(200);
        Assert.False(heard.Reader.TryRead(out var more), $"the session heard {more} after the input ended");
    }

    private static async Task<object> ReadAsync(Channel<object> heard) =>
        await heard.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));

    private sealed class Recorder(ChannelWriter<object> heard) : UntypedActor
    {
        protected override void OnReceive(object message) => heard.TryWrite(message);
    }
}
