using System.Text.Json;
using Engine.Integration.Tests.Support;

namespace Engine.Integration.Tests;

/// <summary>
/// Hot reload (enginectl config reload, SIGHUP): changed restrictions, maps, limits, transport maps and certificates
/// apply to new connections while open ones go on; a wrong file is refused with its line and reason, and the
/// running configuration stays.
/// </summary>
public sealed class ReloadSpecs : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly string _dir = TempDir.Create("reload");

    private static async Task<string> BannerAsync(int port)
    {
        await using var smtp = await RawSmtp.ConnectAsync(port);
        return (await smtp.ReadAsync()).Last;
    }

    /// <summary>A new session's answers to RCPT for each of <paramref name="to"/>.</summary>
    private static async Task<string[]> RcptAsync(int port, string from, params string[] to)
    {
        await using var smtp = await RawSmtp.GreetedAsync(port, from);
        Assert.Equal(250, (await smtp.CommandAsync("EHLO client.test")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<a@client.test>")).Code);
        var replies = new List<string>();
        foreach (var address in to)
            replies.Add((await smtp.CommandAsync($"RCPT TO:<{address}>")).Last);
        return [.. replies];
    }

    private static async Task WaitForAsync(Func<bool> condition, string failure)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(100, Ct);
        }
    }

    [Fact]
    public async Task Enginectl_config_reload_applies_restrictions_maps_limits_and_transports_to_new_sessions_and_refuses_a_wrong_file_with_its_line()
    {
        await using var before = new ScriptedSmtpServer();
        await using var after = new ScriptedSmtpServer();
        var access = Path.Combine(_dir, "client_access");
        File.WriteAllText(access, "127.0.0.1 REJECT reloaded map says no\n");
        var file = Path.Combine(_dir, "engine.conf");
        File.WriteAllText(file, $$"""
            engine {
              smtp {
                banner = "ESMTP first"
                recipient-limit = 100
              }
              delivery.transport { "far.test" = "smtp:[127.0.0.1]:{{before.Port}}" }
            }
            """);
        await using var engine = await EngineInstance.StartWithFileAsync(file);
        Assert.EndsWith("ESMTP first", await BannerAsync(engine.Port), StringComparison.Ordinal);

        // A session opened before the reload, in the middle of its transaction.
        await using var open = await RawSmtp.GreetedAsync(engine.Port);
        Assert.Equal(250, (await open.CommandAsync("EHLO client.test")).Code);
        Assert.Equal(250, (await open.CommandAsync("MAIL FROM:<a@client.test>")).Code);

        File.WriteAllText(file, $$"""
            engine {
              smtp {
                banner = "ESMTP second"
                recipient-limit = 2
                restrictions.client = ["check_client_access exact:{{access}}"]
              }
              delivery.transport { "far.test" = "smtp:[127.0.0.1]:{{after.Port}}" }
              queue.minimal-backoff = 10m
            }
            """);
        var report = await Enginectl.JsonAsync(engine, "config", "reload");
        var node = Assert.Single(report.GetProperty("nodes").EnumerateArray());
        Assert.True(node.GetProperty("applied").GetBoolean(), node.ToString());
        var changed = node.GetProperty("changed").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Assert.Equal(["engine.delivery.transport", "engine.queue.minimal-backoff", "engine.smtp.banner", "engine.smtp.recipient-limit",
            "engine.smtp.restrictions.client"], changed);
        Assert.Equal(["engine.queue.minimal-backoff"], node.GetProperty("needRestart").EnumerateArray().Select(e => e.GetString()!));

        // The open session was not dropped and finishes with what it started with: no map, a limit of 100.
        Assert.Equal(250, (await open.CommandAsync("RCPT TO:<x@far.test>")).Code);
        Assert.Equal(250, (await open.CommandAsync("RCPT TO:<y@far.test>")).Code);
        Assert.Equal(250, (await open.CommandAsync("RCPT TO:<z@far.test>")).Code);
        Assert.Equal(354, (await open.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await open.CommandAsync("Subject: across a reload\r\n\r\nhello\r\n.")).Code);
        // Its mail takes the transport map the queue has now.
        await WaitForAsync(() => after.Messages.Count == 1, "the message did not go by the new transport map");
        Assert.Empty(before.Messages);
        Assert.Equal(["x@far.test", "y@far.test", "z@far.test"], after.Messages.Single().To.Order());

        // New sessions get the new banner, the access map and the recipient limit.
        Assert.EndsWith("ESMTP second", await BannerAsync(engine.Port), StringComparison.Ordinal);
        Assert.Equal(["554 5.7.1 <unknown[127.0.0.1]>: Client host rejected: reloaded map says no"], await RcptAsync(engine.Port, "127.0.0.1", "x@far.test"));
        Assert.Equal(["250 2.1.5 Ok", "250 2.1.5 Ok", "452 4.5.3 Error: too many recipients"],
            await RcptAsync(engine.Port, "127.0.0.2", "x@far.test", "y@far.test", "z@far.test"));
        Assert.Contains(engine.Logs.Lines, l => l.StartsWith("reload: configuration applied, 5 settings changed", StringComparison.Ordinal));
        Assert.Contains(engine.Logs.Lines, l => l == "reload: these changes take effect at the next restart: engine.queue.minimal-backoff");
        var shown = await Enginectl.JsonAsync(engine, "config", "show", "--changed");
        Assert.Contains(shown.EnumerateArray(), s => s.GetProperty("key").GetString() == "engine.smtp.banner" && s.GetProperty("value").GetString() == "\"ESMTP second\"");

        // A broken file: refused with the line and the reason; exit code 1; the running configuration stays.
        var good = File.ReadAllText(file);
        File.WriteAllText(file, "engine {\n  smtp {\n    banner = \"ESMTP third\n  }\n}\n");
        var broken = await Enginectl.RunAsync(engine, "config", "reload");
        Assert.Equal(1, broken.ExitCode);
        Assert.Contains($"{file}: line 3, column 14: a string that does not end on its line", broken.Error, StringComparison.Ordinal);
        Assert.EndsWith("ESMTP second", await BannerAsync(engine.Port), StringComparison.Ordinal);

        // A file that parses but says something wrong: refused with the line of that setting.
        File.WriteAllText(file, good.Replace("recipient-limit = 2", "recipient-limit = 2\n    restrictions.recipient = [permit]", StringComparison.Ordinal));
        var refused = await Enginectl.RunAsync(engine, "config", "reload", "--json");
        Assert.Equal(1, refused.ExitCode);
        var error = JsonDocument.Parse(refused.Output).RootElement.GetProperty("nodes")[0].GetProperty("error").GetString();
        Assert.StartsWith($"{file}: line 5: engine.smtp.restrictions.recipient: it must refuse relaying", error, StringComparison.Ordinal);
        Assert.Equal(["554 5.7.1 <unknown[127.0.0.1]>: Client host rejected: reloaded map says no"], await RcptAsync(engine.Port, "127.0.0.1", "x@far.test"));
        Assert.Contains(engine.Logs.Lines, l => l.StartsWith("reload: refused, the running configuration stays: " + file + ": line 5", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Sighup_reloads_the_certificates_of_the_configuration_file_and_a_wrong_file_leaves_the_process_running_as_it_was()
    {
        using var ca = new TestCertificates(Path.Combine(_dir, "tls"));
        var (_, _, mx) = ca.Issue("mx.test", "mx");
        var (_, _, other) = ca.Issue("imap.other.test", "other");
        var imaps = Loopback.FreePort();
        var file = Path.Combine(_dir, "engine.conf");
        File.WriteAllText(file, $"engine.tls.certificates = [{mx}]\n");
        await using var engine = await EngineProcess.StartWithFileAsync(Path.Combine(_dir, "data"), file, $"engine.imap.listen-tls = [\"127.0.0.1:{imaps}\"]");
        await engine.WaitForOutputAsync($"listening on 127.0.0.1:{imaps}", TimeSpan.FromSeconds(20));
        Assert.Equal("CN=mx.test", (await TestCertificates.ServedAsync(imaps, "imap.other.test", Ct)).Subject);

        File.WriteAllText(file, $"engine.tls.certificates = [{mx}, {other}]\n");
        engine.Hangup();
        await engine.WaitForOutputAsync("reload: configuration applied, 1 settings changed: engine.tls.certificates", TimeSpan.FromSeconds(20));
        Assert.Equal("CN=imap.other.test", (await TestCertificates.ServedAsync(imaps, "imap.other.test", Ct)).Subject);

        // An unclosed array (which Akka's own parser would never finish reading) is refused, and nothing changes.
        File.WriteAllText(file, $"engine.tls.certificates = [{mx}\nengine.smtp.banner = x\n");
        engine.Hangup();
        await engine.WaitForOutputAsync("reload: refused", TimeSpan.FromSeconds(20));
        Assert.Contains(engine.Output, l => l.Contains($"{file}: line 2, column ", StringComparison.Ordinal));
        Assert.False(engine.HasExited);
        Assert.Equal("CN=imap.other.test", (await TestCertificates.ServedAsync(imaps, "imap.other.test", Ct)).Subject);
        Assert.Equal("CN=mx.test", (await TestCertificates.ServedAsync(imaps, "mx.test", Ct)).Subject);
    }

    [Fact]
    public async Task A_wrong_file_at_start_is_refused_with_its_line_and_exit_code_78()
    {
        var file = Path.Combine(_dir, "broken.conf");
        File.WriteAllText(file, "engine {\n  smtp {\n    banner = x\n  }\n}\n}\n");
        var run = await Processes.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "engine.dll"), "--config", file], TimeSpan.FromSeconds(60));
        Assert.Equal(78, run.ExitCode);
        Assert.Equal($"engine: {file}: line 6, column 1: '}}' with nothing open to close", run.Error.Trim());
    }

    [Fact]
    public async Task A_value_the_engine_refuses_at_start_is_shown_with_its_line_and_exit_code_78()
    {
        var file = Path.Combine(_dir, "refused.conf");
        File.WriteAllText(file, "engine {\n  smtp {\n    restrictions.recipient = [permit]\n  }\n}\n");
        var run = await Processes.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "engine.dll"), "--config", file,
            "--set", $"engine.data-dir = \"{Path.Combine(_dir, "data")}\"", "--set", "engine.smtp.listen = [\"127.0.0.1:0\"]", "--set", "engine.web.listen = []"],
            TimeSpan.FromSeconds(60));
        Assert.Equal(78, run.ExitCode);
        Assert.StartsWith($"engine: {file}: line 3: engine.smtp.restrictions.recipient: it must refuse relaying", run.Error.Trim(), StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
