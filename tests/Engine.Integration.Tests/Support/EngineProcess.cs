using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Engine.Integration.Tests.Support;

/// <summary>The engine as a separate process (`dotnet engine.dll`), so a test can kill it for real.</summary>
public sealed class EngineProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private EngineProcess(Process process, int port, string address)
    {
        _process = process;
        Port = port;
        Address = address;
    }

    public int Port { get; }

    /// <summary>The loopback address the node's listeners and remoting bind (127.0.0.1 unless started as a cluster node).</summary>
    public string Address { get; }
    public IReadOnlyCollection<string> Output => _output;

    public int Pid => _process.Id;

    public static string[] Settings(string dataDir, int port, string address = "127.0.0.1") =>
    [
        $"engine.data-dir = \"{dataDir}\"",
        "engine.hostname = mx.test",
        $"engine.smtp.listen = [\"{address}:{port}\"]",
        $"engine.pop3.listen = [\"{address}:0\"]",
        $"engine.imap.listen = [\"{address}:0\"]",
        "engine.imap.listen-tls = []",
        "engine.pop3.listen-tls = []",
        "engine.submission.listen = []",
        "engine.submission.listen-tls = []",
        "engine.web.listen = []", // a test that wants the admin API asks for port 0 and reads it from the log
        "engine.auth.plaintext-on-loopback = on",
        "engine.smtp.mydestination = [\"mx.test\"]",
        "engine.smtp.local-recipients = [\"*\"]", // as EngineInstance's
        "engine.delivery.dns-servers = [\"127.0.0.1:9\"]",
    ];

    public static Task<EngineProcess> StartAsync(string dataDir, params string[] extra) => StartAsync(dataDir, null, "127.0.0.1", extra);

    /// <summary>Started with <c>--config <paramref name="file"/></c> (read again on SIGHUP), the test's settings on top of it.</summary>
    public static Task<EngineProcess> StartWithFileAsync(string dataDir, string file, params string[] extra) => StartAsync(dataDir, file, "127.0.0.1", extra);

    /// <summary>A node whose listeners bind <paramref name="address"/> (127.0.0.2, ...), as one machine of a farm.</summary>
    public static Task<EngineProcess> StartNodeAsync(string dataDir, string address, params string[] extra) => StartAsync(dataDir, null, address, extra);

    /// <summary>A node as <see cref="StartNodeAsync(string, string, string[])"/> with its SMTP listener on <paramref name="port"/> (kept over a restart).</summary>
    public static Task<EngineProcess> StartNodeAsync(string dataDir, string address, int port, params string[] extra) =>
        StartAsync(dataDir, null, address, extra, port);

    private static async Task<EngineProcess> StartAsync(string dataDir, string? file, string address, string[] extra, int port = 0)
    {
        if (port == 0)
            port = Loopback.FreePort();
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "engine.dll"));
        if (file is not null)
        {
            info.ArgumentList.Add("--config");
            info.ArgumentList.Add(file);
        }
        foreach (var setting in Settings(dataDir, port, address).Concat(extra))
        {
            info.ArgumentList.Add("--set");
            info.ArgumentList.Add(setting);
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start the engine");
        var engine = new EngineProcess(process, port, address);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) engine._output.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) engine._output.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await engine.WaitForOutputAsync($"listening on {address}:{port}", TimeSpan.FromSeconds(60));
        return engine;
    }

    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!_output.Any(l => l.Contains(text, StringComparison.Ordinal)))
        {
            if (_process.HasExited)
                throw new InvalidOperationException("engine exited:\n" + string.Join("\n", _output));
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"no '{text}' from the engine:\n" + string.Join("\n", _output.TakeLast(30)));
            await Task.Delay(50);
        }
    }

    /// <summary>SIGKILL: no chance to flush or clean up anything.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>SIGTERM, as systemd stops a service.</summary>
    public void Terminate() => Signal("TERM");

    /// <summary>SIGHUP, as systemctl reload and postfix reload send it.</summary>
    public void Hangup() => Signal("HUP");

    private void Signal(string name)
    {
        using var kill = Process.Start("kill", ["-" + name, _process.Id.ToString()]);
        kill.WaitForExit();
    }

    public bool HasExited => _process.HasExited;

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
            Kill();
        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}
