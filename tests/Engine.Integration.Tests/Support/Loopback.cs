using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Engine.Integration.Tests.Support;

public static class Loopback
{
    /// <summary>A TCP port on 127.0.0.1 that nothing listens on (for a next hop that is down, or a server to start later).</summary>
    public static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    /// <summary>Waits until something accepts connections on 127.0.0.1:<paramref name="port"/> (or the server process dies, or time runs out).</summary>
    public static async Task WaitForListenerAsync(int port, Process server, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync("127.0.0.1", port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !server.HasExited)
            {
                await Task.Delay(50);
            }
        }
    }
}
