using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Engine.Integration.Tests.Support;

/// <summary>
/// A real DNS server on loopback: dnsmasq from Debian (installed by tests/run.sh), answering only for
/// the records it is given and for nothing else (no upstream, no hosts file), authoritative for ".test".
/// </summary>
public sealed class DnsServer : IDisposable
{
    private readonly Process _process;

    private DnsServer(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    /// <summary>Records as dnsmasq options: "--mx-host=d,host,pref", "--host-record=name,addr".</summary>
    public static async Task<DnsServer> StartAsync(params string[] records)
    {
        var dnsmasq = Processes.Which("dnsmasq") ?? "/usr/sbin/dnsmasq";
        Assert.True(File.Exists(dnsmasq), "dnsmasq is not installed: run the tests with tests/run.sh, which installs it");
        // dnsmasq binds UDP and TCP on the port; a port free for UDP may be taken on TCP by another test meanwhile: try another.
        for (var attempt = 1; ; attempt++)
        {
            int port;
            using (var probe = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0)))
                port = ((IPEndPoint)probe.Client.LocalEndPoint!).Port;
            var info = new ProcessStartInfo(dnsmasq) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var arg in new[]
                     {
                         "--no-daemon", "--conf-file=/dev/null", $"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces",
                         "--no-resolv", "--no-hosts", "--local=/test/", "--user=root",
                     }.Concat(records))
                info.ArgumentList.Add(arg);
            var process = Process.Start(info)!;
            // Wait until it answers on UDP (an A query for "a.test").
            var query = new byte[] { 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, (byte)'a', 4, (byte)'t', (byte)'e', (byte)'s', (byte)'t', 0, 0, 1, 0, 1 };
            for (var i = 0; i < 50 && !process.HasExited; i++)
            {
                using var client = new UdpClient(AddressFamily.InterNetwork);
                client.Connect(IPAddress.Loopback, port);
                using var timeout = new CancellationTokenSource(200);
                try
                {
                    await client.SendAsync(query, timeout.Token);
                    await client.ReceiveAsync(timeout.Token);
                    return new DnsServer(process, port);
                }
                catch (Exception e) when (e is SocketException or OperationCanceledException)
                {
                    await Task.Delay(50);
                }
            }
            if (!process.HasExited)
                process.Kill();
            var error = await process.StandardError.ReadToEndAsync();
            process.Dispose();
            if (attempt >= 5 || !error.Contains("Address already in use", StringComparison.Ordinal))
                throw new InvalidOperationException("dnsmasq did not answer: " + error);
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
            _process.Kill();
        _process.Dispose();
    }
}
