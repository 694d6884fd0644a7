using System.Diagnostics;

namespace Engine.Integration.Tests.Support;

/// <summary>
/// Postgrey (from Debian) as an external policy server: its own database folder and port, in the foreground
/// as a child of the test, dropping to its own user as it does when run by its init script.
/// </summary>
public sealed class PostgreyServer : IAsyncDisposable
{
    private readonly Process _process;

    private PostgreyServer(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public static async Task<PostgreyServer> StartAsync(int delaySeconds)
    {
        var program = Processes.Which("postgrey") ?? "/usr/sbin/postgrey";
        Assert.True(File.Exists(program), "postgrey is not installed: run the tests with tests/run.sh, which installs it");
        var dir = TempDir.Create("postgrey");
        await Processes.RunAsync("chown", ["postgrey:postgrey", dir]);
        var port = Loopback.FreePort();
        var process = Process.Start(new ProcessStartInfo(program)
        {
            ArgumentList = { $"--inet=127.0.0.1:{port}", $"--dbdir={dir}", $"--delay={delaySeconds}", "--hostname=postgrey.test" },
            UseShellExecute = false,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        }) ?? throw new InvalidOperationException("cannot start postgrey");
        await Loopback.WaitForListenerAsync(port, process, TimeSpan.FromSeconds(20));
        return new PostgreyServer(process, port);
    }

    /// <summary>Stops Postgrey (a test may stop it early to see the engine without its policy server).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopped)
            return;
        _stopped = true;
        if (!_process.HasExited)
            _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
    }

    private bool _stopped;
}

/// <summary>
/// A Postfix instance of the test's own (from Debian, in a folder of its own: main.cf, master.cf, queue, data),
/// its SMTP server on a loopback port, its master in the foreground as a child of the test. Needs root, as
/// Postfix starts as root and drops to its own user.
/// </summary>
public sealed class PostfixInstance : IAsyncDisposable
{
    private readonly Process _master;

    private PostfixInstance(Process master, int port, string dir)
    {
        _master = master;
        Port = port;
        Directory = dir;
    }

    public int Port { get; }
    public string Directory { get; }

    public string MailLog => Path.Combine(Directory, "maillog");

    /// <param name="settings">main.cf lines for the test ("smtpd_recipient_restrictions = ...").</param>
    public static async Task<PostfixInstance> StartAsync(params string[] settings)
    {
        Assert.True(File.Exists("/usr/sbin/postfix"), "postfix is not installed: run the tests with tests/run.sh, which installs it");
        var dir = TempDir.Create("postfix");
        var port = Loopback.FreePort();
        foreach (var sub in new[] { "etc", "queue", "data" })
            System.IO.Directory.CreateDirectory(Path.Combine(dir, sub));
        await Processes.RunAsync("chown", ["postfix", Path.Combine(dir, "data")]);
        await File.WriteAllTextAsync(Path.Combine(dir, "etc", "main.cf"), string.Join('\n', [
            "compatibility_level = 3.6", $"queue_directory = {dir}/queue", $"data_directory = {dir}/data", "mail_owner = postfix",
            "inet_interfaces = 127.0.0.1", "inet_protocols = ipv4", "myhostname = postfix.test", "mydestination =", "mynetworks = 127.0.0.0/8",
            "smtpd_peername_lookup = no", "disable_dns_lookups = yes", "smtp_dns_support_level = disabled",
            $"maillog_file = {dir}/maillog", $"maillog_file_prefixes = {dir}", .. settings, ""]));
        var master = (await File.ReadAllLinesAsync("/etc/postfix/master.cf.proto"))
            .Where(l => !l.StartsWith("smtp      inet", StringComparison.Ordinal) && !l.StartsWith("postlog", StringComparison.Ordinal))
            .Append($"127.0.0.1:{port} inet n - n - - smtpd").Append("postlog   unix-dgram n  -       n       -       1       postlogd");
        await File.WriteAllLinesAsync(Path.Combine(dir, "etc", "master.cf"), master);
        var process = Process.Start(new ProcessStartInfo("/usr/sbin/postfix")
        {
            ArgumentList = { "-c", Path.Combine(dir, "etc"), "start-fg" },
            UseShellExecute = false,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        }) ?? throw new InvalidOperationException("cannot start postfix");
        await Loopback.WaitForListenerAsync(port, process, TimeSpan.FromSeconds(30));
        return new PostfixInstance(process, port, dir);
    }

    public async ValueTask DisposeAsync()
    {
        await Processes.RunAsync("/usr/sbin/postfix", ["-c", Path.Combine(Directory, "etc"), "stop"]);
        if (!_master.HasExited)
            _master.Kill(entireProcessTree: true);
        await _master.WaitForExitAsync();
        _master.Dispose();
    }
}
