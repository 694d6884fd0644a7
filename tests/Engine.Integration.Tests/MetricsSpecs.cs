using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using Engine.Integration.Tests.Support;

namespace Engine.Integration.Tests;

/// <summary>
/// The Prometheus endpoint of a running engine (its own process, so no other test's measurements mix in), scraped
/// during and after a load from Postfix's smtp-source: it shows the counts the load sent.
/// </summary>
public sealed partial class MetricsSpecs
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [GeneratedRegex(@"^(?<name>[a-z_]+)(\{(?<labels>[^}]*)\})? (?<value>\S+)$", RegexOptions.Multiline)]
    private static partial Regex Sample();

    /// <summary>The value of one series: the metric name and the labels it must carry (others, such as otel_scope_name, may be there too).</summary>
    private static double Value(string text, string name, params string[] labels) =>
        Sample().Matches(text).Where(m => m.Groups["name"].Value == name && labels.All(l => m.Groups["labels"].Value.Split(',').Contains(l)))
            .Select(m => double.Parse(m.Groups["value"].Value, System.Globalization.CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Sum();

    [Fact]
    public async Task The_prometheus_endpoint_shows_what_a_load_run_sent()
    {
        var dataDir = Accounts.WithJane("metrics");
        await using var engine = await EngineProcess.StartAsync(dataDir, "engine.web.listen = [\"127.0.0.1:0\"]", "engine.imap.listen = [\"127.0.0.1:0\"]");
        await engine.WaitForOutputAsync("admin API listening on 127.0.0.1:", TimeSpan.FromSeconds(30));
        var admin = int.Parse(Regex.Match(string.Join("\n", engine.Output), @"admin API listening on 127\.0\.0\.1:(\d+)").Groups[1].Value,
            System.Globalization.CultureInfo.InvariantCulture);
        var imap = int.Parse(Regex.Match(string.Join("\n", engine.Output), @"imap: listening on 127\.0\.0\.1:(\d+)").Groups[1].Value,
            System.Globalization.CultureInfo.InvariantCulture);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{admin}/") };
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await http.GetAsync("metrics", Ct)).StatusCode); // the token is needed
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(Path.Combine(dataDir, "admin.token"), Ct)).Trim());

        // The load: 120 messages to a local user over 4 parallel sessions, and three recipients refused.
        var load = await Processes.RunAsync("/usr/sbin/smtp-source", ["-s", "4", "-m", "120", "-f", "load@client.test", "-t", "jane@campus.test",
            $"127.0.0.1:{engine.Port}"], TimeSpan.FromMinutes(2));
        Assert.True(load.ExitCode == 0, load.Output + load.Error);
        for (var i = 0; i < 3; i++)
        {
            await using var smtp = await RawSmtp.GreetedAsync(engine.Port);
            await smtp.CommandAsync("EHLO client.test");
            await smtp.CommandAsync("MAIL FROM:<load@client.test>");
            Assert.Equal(550, (await smtp.CommandAsync($"RCPT TO:<nobody{i}@campus.test>")).Code);
        }
        using var session = await RawImap.GreetedAsync(imap); // one IMAP session open while the endpoint is scraped

        // Delivery into the Maildir follows the 250s; scrape until every message is in (the endpoint caches a scrape briefly).
        string text;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        do
        {
            await Task.Delay(500, Ct);
            text = await http.GetStringAsync("metrics", Ct);
        }
        while (Value(text, "engine_delivery_recipients_total", "destination=\"local\"", "status=\"sent\"") < 120 && DateTime.UtcNow < deadline);

        var accepted = Value(text, "engine_smtp_messages_accepted_total");
        Assert.True(accepted == 120, $"accepted {accepted} of 120; smtp-source said: {load.Output}{load.Error}; the engine said:\n"
                                     + string.Join("\n", engine.Output.Where(l => !l.Contains(" info: ", StringComparison.Ordinal)).TakeLast(40)));
        Assert.Equal(120, Value(text, "engine_smtp_recipients_accepted_total"));
        var sent = Value(text, "engine_delivery_recipients_total", "destination=\"local\"", "status=\"sent\"");
        Assert.True(sent == 120, $"delivered {sent} of 120; the engine said:\n" + string.Join("\n", engine.Output.Where(l =>
            !l.Contains(" info: ", StringComparison.Ordinal) || l.Contains("status=", StringComparison.Ordinal) && !l.Contains("status=sent", StringComparison.Ordinal)).TakeLast(60)));
        Assert.Equal(120, Value(text, "engine_delivery_duration_seconds_count", "destination=\"local\""));
        Assert.Equal(3, Value(text, "engine_smtp_rejects_total", "stage=\"RCPT\"", "reason=\"550 5.1.1\""));
        Assert.Equal(120 + 3, Value(text, "engine_smtp_commands_total", "verb=\"MAIL\"", "result=\"ok\""));
        Assert.Equal(120, Value(text, "engine_smtp_commands_total", "verb=\"DATA\"", "result=\"ok\""));
        Assert.Equal(3, Value(text, "engine_smtp_commands_total", "verb=\"RCPT\"", "result=\"error\""));
        Assert.True(Value(text, "engine_smtp_connections_total", "service=\"mx\"", "result=\"accepted\"") >= 3 + 4);
        Assert.Equal(0, Value(text, "engine_queue_messages", "queue=\"deferred\""));
        Assert.Equal(1, Value(text, "engine_mailbox_sessions", "protocol=\"imap\""));
        Assert.True(Value(text, "engine_persistence_write_duration_seconds_count") >= 1);
        Assert.Equal(120, (await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", 120)).Length);

        // The runtime's own meter (System.Runtime) is served too: what a node spent in GC and JIT, its thread pool.
        Assert.True(Value(text, "dotnet_gc_collections_total") >= 1);
        Assert.True(Value(text, "dotnet_jit_compilation_time_seconds_total") > 0);
        Assert.True(Value(text, "dotnet_thread_pool_work_item_count_total") > 120);

        // The admin server reads no appsettings.json and so watches no files: a watcher on the working directory
        // would wake for every spool file the node writes under ./data.
        var watchers = Directory.GetFiles($"/proc/{engine.Pid}/fd").Count(fd => new FileInfo(fd).LinkTarget == "anon_inode:inotify");
        Assert.Equal(0, watchers);

        // Every series the Grafana dashboard in deploy/ draws is one the engine serves.
        var dashboard = await File.ReadAllTextAsync(Path.Combine(Repository.Root, "deploy", "grafana-dashboard.json"), Ct);
        var drawn = Regex.Matches(dashboard, @"engine_[a-z_]+").Select(m => m.Value).Distinct().ToArray();
        Assert.NotEmpty(drawn);
        Assert.All(drawn, name => Assert.Contains("\n" + name, "\n" + text, StringComparison.Ordinal));
    }
}
