using System.Diagnostics;
using System.Net.Sockets;

namespace Engine.Integration.Tests.Support;

/// <summary>
/// Dovecot (from Debian) as a second reader of the engine's Maildirs: an instance of its own (own base_dir,
/// config and port, loopback only, plaintext logins), mail_location pointing at the engine's mail root, one
/// user with a {PLAIN} password. Mail processes run as nobody, so the test hands the Maildir to nobody first.
/// </summary>
public sealed class DovecotServer : IAsyncDisposable
{
    private const string Program = "/usr/sbin/dovecot";
    private readonly Process _master;

    private DovecotServer(Process master, int port)
    {
        _master = master;
        Port = port;
    }

    public int Port { get; }

    public static async Task<DovecotServer> StartAsync(string mailRoot, string user, string password)
    {
        if (!File.Exists(Program))
            throw new InvalidOperationException($"{Program} is missing: tests/run.sh installs dovecot-imapd");
        var dir = TempDir.Create("dovecot");
        var port = Loopback.FreePort();
        await File.WriteAllTextAsync(Path.Combine(dir, "passwd"), $"{user}:{{PLAIN}}{password}::::::\n");
        var config = Path.Combine(dir, "dovecot.conf");
        await File.WriteAllTextAsync(config, $$"""
            base_dir = {{dir}}/run
            instance_name = engine-test-{{port}}
            state_dir = {{dir}}/state
            protocols = imap
            listen = 127.0.0.1
            ssl = no
            disable_plaintext_auth = no
            auth_mechanisms = plain
            log_path = {{dir}}/dovecot.log
            mail_location = maildir:{{mailRoot}}/%d/%n
            namespace inbox {
              inbox = yes
              separator = /
            }
            passdb {
              driver = passwd-file
              args = scheme=PLAIN username_format=%u {{dir}}/passwd
            }
            userdb {
              driver = static
              args = uid=nobody gid=nogroup home={{dir}}/home/%d/%n
            }
            service imap-login {
              inet_listener imap {
                port = {{port}}
              }
              inet_listener imaps {
                port = 0
              }
            }
            service anvil {
              chroot =
            }
            """);
        // In the foreground (-F), as a child of this process: it goes when the test goes.
        var master = Process.Start(new ProcessStartInfo(Program) { ArgumentList = { "-F", "-c", config }, UseShellExecute = false })
                     ?? throw new InvalidOperationException("cannot start dovecot");
        await Loopback.WaitForListenerAsync(port, master, TimeSpan.FromSeconds(15));
        return new DovecotServer(master, port);
    }

    /// <summary>Gives a Maildir (and the folders above it up to the root) to nobody, as Dovecot's mail processes run.</summary>
    public static async Task HandOverAsync(string maildir)
    {
        var chown = await Processes.RunAsync("chown", ["-R", "nobody:nogroup", maildir]);
        if (chown.ExitCode != 0)
            throw new InvalidOperationException($"chown failed: {chown.Error}");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_master.HasExited)
            _master.Kill(); // SIGKILL of the master: its children see it gone and leave
        await _master.WaitForExitAsync();
        _master.Dispose();
    }
}
