using System.Diagnostics;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Engine.Integration.Tests.Support;

/// <summary>
/// Postfix's smtp-sink on a loopback port: answers 250 to everything and appends every transaction to a
/// dump file, which a test reads back.
/// </summary>
public sealed class SmtpSink : IDisposable
{
    private const string Program = "/usr/sbin/smtp-sink";
    private readonly Process _process;
    private readonly string _dump;

    private SmtpSink(Process process, int port, string dump)
    {
        _process = process;
        Port = port;
        _dump = dump;
    }

    public int Port { get; }

    public static async Task<SmtpSink> StartAsync()
    {
        if (!File.Exists(Program))
            throw new InvalidOperationException($"{Program} is missing: tests/run.sh installs it with Postfix");
        var dir = TempDir.Create("sink");
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(dir, (UnixFileMode)0x1FF); // smtp-sink run as root drops to nobody
        var dump = Path.Combine(dir, "dump");
        var port = Loopback.FreePort();
        var info = new ProcessStartInfo(Program) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        if (Environment.UserName == "root")
        {
            info.ArgumentList.Add("-u");
            info.ArgumentList.Add("nobody");
        }
        foreach (var a in new[] { "-D", dump, $"127.0.0.1:{port}", "256" })
            info.ArgumentList.Add(a);
        var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start smtp-sink");
        await Loopback.WaitForListenerAsync(port, process, TimeSpan.FromSeconds(10));
        return new SmtpSink(process, port, dump);
    }

    /// <summary>Stops the sink (SIGSTOP): connections and data wait unanswered until <see cref="Thaw"/>.</summary>
    public void Freeze() => Signal("STOP");

    public void Thaw() => Signal("CONT");

    private void Signal(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    /// <summary>How many times each value of a header (such as X-Seq) reached the sink.</summary>
    public Dictionary<string, int> CountHeader(string name)
    {
        var counts = new Dictionary<string, int>();
        if (!File.Exists(_dump))
            return counts;
        var pattern = new Regex($"^{Regex.Escape(name)}: (.*)$", RegexOptions.Multiline);
        foreach (Match m in pattern.Matches(File.ReadAllText(_dump).Replace("\r", "", StringComparison.Ordinal)))
            counts[m.Groups[1].Value] = counts.GetValueOrDefault(m.Groups[1].Value) + 1;
        return counts;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
            _process.Kill();
        _process.WaitForExit(5000);
        _process.Dispose();
    }
}
