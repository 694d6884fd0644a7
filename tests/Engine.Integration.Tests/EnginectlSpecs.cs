using System.Text.Json;
using Engine.Integration.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Engine.Integration.Tests;

/// <summary>
/// enginectl as a process against a running engine: every queue verb with --json parsed and checked, mailq in
/// Postfix's shape, exit codes, and the cluster verbs against real members.
/// </summary>
public sealed class EnginectlSpecs
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static int Count(JsonElement changed) => changed.GetProperty("count").GetInt32();

    private static string[] Ids(JsonElement listing) => listing.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("id").GetString()!).ToArray();

    /// <summary>How many queue partitions the status shows running, on all members.</summary>
    private static int Partitions(JsonElement status) =>
        status.GetProperty("shards").EnumerateArray().Where(s => s.GetProperty("type").GetString() == "queue-partition")
            .SelectMany(s => s.GetProperty("regions").EnumerateArray()).Sum(r => r.GetProperty("entities").GetInt32());

    private static async Task<JsonElement> EntryAsync(EngineInstance engine, string id) =>
        (await Enginectl.JsonAsync(engine, "queue", "show", id)).GetProperty("entry");

    private static async Task WaitForAsync(Func<Task<bool>> condition, string failure)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(100, Ct);
        }
    }

    [Fact]
    public async Task Queue_verbs_hold_release_flush_requeue_and_delete_what_they_name_and_list_it_as_json_and_as_mailq()
    {
        // later.test refuses the first DATA and takes the rest; never.test refuses every recipient for now.
        await using var later = new ScriptedSmtpServer((verb, n) => verb == "DATA" && n == 1 ? "451 4.3.0 try again later" : null);
        await using var never = new ScriptedSmtpServer((verb, _) => verb == "RCPT" ? "451 4.7.1 not now" : null);
        await using var engine = await EngineInstance.StartAsync("engine.queue.minimal-backoff = 1h", "engine.queue.maximal-backoff = 2h",
            $"engine.delivery.transport = {{ \"later.test\" = \"smtp:[127.0.0.1]:{later.Port}\", \"never.test\" = \"smtp:[127.0.0.1]:{never.Port}\" }}");

        var first = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "Subject: first\r\n\r\nkeep me", "carol@later.test");
        var fromBob = await RawSmtp.SendMessageAsync(engine.Port, "bob@client.test", "Subject: b1\r\n\r\nx", "dave@never.test");
        var fromBob2 = await RawSmtp.SendMessageAsync(engine.Port, "bob@client.test", "Subject: b2\r\n\r\nx", "erin@never.test");
        var fromAlice = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "Subject: a1\r\n\r\nx", "frank@never.test");
        await WaitForAsync(async () => Ids(await Enginectl.JsonAsync(engine, "queue", "list", "--queue", "deferred")).Length == 4, "not all four were deferred");

        // stats: the queue by state over every partition.
        var stats = await Enginectl.JsonAsync(engine, "stats");
        Assert.Equal((4, 0, 1), (stats.GetProperty("queue").GetProperty("deferred").GetInt32(), stats.GetProperty("queue").GetProperty("hold").GetInt32(),
            stats.GetProperty("membersUp").GetInt32()));

        // list and show, as JSON.
        var listing = await Enginectl.JsonAsync(engine, "queue", "list", "--sender", "bob@client.test");
        Assert.Equal(2, listing.GetProperty("total").GetInt32());
        Assert.Equal([fromBob, fromBob2], Ids(listing).Order());
        var shown = await Enginectl.JsonAsync(engine, "queue", "show", first);
        Assert.Equal("deferred", shown.GetProperty("entry").GetProperty("queue").GetString());
        var carol = shown.GetProperty("entry").GetProperty("recipients").EnumerateArray().Single();
        Assert.Equal(("carol@later.test", "deferred", 1), (carol.GetProperty("address").GetString(), carol.GetProperty("status").GetString(), carol.GetProperty("attempts").GetInt32()));
        Assert.Contains("451 4.3.0 try again later", carol.GetProperty("reason").GetString());
        Assert.Contains("Subject: first", shown.GetProperty("headers").GetString());
        Assert.Equal("keep me\r\n", shown.GetProperty("body").GetString());
        Assert.Equal("client.test", shown.GetProperty("helo").GetString());

        // mailq in Postfix's shape.
        var mailq = await Enginectl.RunAsync(engine, "mailq", "--sender", "alice@client.test");
        Assert.Equal(0, mailq.ExitCode);
        Assert.StartsWith("----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------\n", mailq.Output, StringComparison.Ordinal);
        Assert.Contains(first + " ", mailq.Output, StringComparison.Ordinal);
        Assert.Contains("(451 4.3.0 try again later)\n" + new string(' ', 47) + "carol@later.test\n", mailq.Output, StringComparison.Ordinal);
        Assert.EndsWith(" Kbytes in 2 Requests.\n", mailq.Output, StringComparison.Ordinal);

        // "@domain" is a filter value, not a response file; an empty filter or a list of queues is refused, not "all".
        Assert.Equal(4, (await Enginectl.JsonAsync(engine, "queue", "list", "--sender", "@client.test")).GetProperty("total").GetInt32());
        var empty = await Enginectl.RunAsync(engine, "queue", "delete", "--sender", "");
        Assert.Equal(2, empty.ExitCode);
        Assert.Contains("the sender filter is empty", empty.Error, StringComparison.Ordinal);
        Assert.Equal(2, (await Enginectl.RunAsync(engine, "queue", "hold", "--queue", "active,deferred")).ExitCode);
        Assert.Equal(4, (await Enginectl.JsonAsync(engine, "queue", "list", "--queue", "deferred")).GetProperty("total").GetInt32());

        // hold, then release: the message goes at once and reaches the host, which now takes it.
        Assert.Equal(1, (await Enginectl.JsonAsync(engine, "queue", "hold", first, "--reason", "look first")).GetProperty("count").GetInt32());
        var held = await EntryAsync(engine, first);
        Assert.Equal(("hold", "look first"), (held.GetProperty("queue").GetString(), held.GetProperty("reason").GetString()));
        Assert.Contains(first + "!", (await Enginectl.RunAsync(engine, "mailq")).Output, StringComparison.Ordinal);
        Assert.Equal(1, (await Enginectl.JsonAsync(engine, "queue", "release", first)).GetProperty("count").GetInt32());
        await WaitForAsync(() => Task.FromResult(later.Messages.Count == 1), "the released message did not arrive");
        Assert.Contains("keep me", later.Messages.Single().Data, StringComparison.Ordinal);
        await engine.Logs.WaitForAsync(l => l == $"{first}: removed");

        // requeue: the failures are forgotten and it is tried at once (failing again, so one attempt, not two).
        Assert.Equal(1, (await Enginectl.JsonAsync(engine, "queue", "requeue", fromAlice)).GetProperty("count").GetInt32());
        await engine.Logs.WaitForAsync(l => l == $"{fromAlice}: requeued");
        await WaitForAsync(async () => (await EntryAsync(engine, fromAlice)).GetProperty("queue").GetString() == "deferred", "the requeued message was not tried");
        Assert.Equal(1, (await EntryAsync(engine, fromAlice)).GetProperty("recipients")[0].GetProperty("attempts").GetInt32());

        // flush: every deferred message is tried now (never.test refuses again: attempts 2).
        Assert.Equal(3, (await Enginectl.JsonAsync(engine, "queue", "flush")).GetProperty("count").GetInt32());
        await WaitForAsync(async () => (await EntryAsync(engine, fromBob)).GetProperty("recipients")[0].GetProperty("attempts").GetInt32() == 2,
            "the flushed message was not tried again");

        // delete by sender removes only that sender's mail (as JSON, and in postsuper's words).
        Assert.Equal(2, Count(await Enginectl.JsonAsync(engine, "queue", "delete", "--sender", "bob@client.test")));
        Assert.Equal([fromAlice], Ids(await Enginectl.JsonAsync(engine, "queue", "list")));
        Assert.Equal(4, (await Enginectl.RunAsync(engine, "queue", "show", fromBob)).ExitCode); // gone: not found
        var deleted = await Enginectl.RunAsync(engine, "queue", "delete", fromAlice);
        Assert.Equal((0, "enginectl: Deleted: 1 message\n"), (deleted.ExitCode, deleted.Output));
        Assert.Empty(Ids(await Enginectl.JsonAsync(engine, "queue", "list")));
    }

    [Fact]
    public async Task Directory_verbs_add_list_and_remove_domains_users_and_aliases_that_take_effect_at_once()
    {
        await using var engine = await EngineInstance.StartAsync();
        Assert.Equal(1, Count(await Enginectl.JsonAsync(engine, "domain", "add", "campus2.test")));
        Assert.Contains("campus2.test", (await Enginectl.JsonAsync(engine, "domain", "list")).EnumerateArray().Select(d => d.GetProperty("name").GetString()));
        Assert.Equal(1, Count(await Enginectl.JsonWithInputAsync(engine, "first secret\n", "user", "add", "jane@campus2.test", "--name", "Jane Doe",
            "--quota", "1000000", "--password-stdin")));
        var users = await Enginectl.JsonAsync(engine, "user", "list", "campus2.test");
        var jane = Assert.Single(users.EnumerateArray());
        Assert.Equal(("jane@campus2.test", "Jane Doe", 1000000L, true),
            (jane.GetProperty("address").GetString(), jane.GetProperty("displayName").GetString(), jane.GetProperty("quotaBytes").GetInt64(), jane.GetProperty("enabled").GetBoolean()));
        var again = await Enginectl.RunWithInputAsync(engine, "x\n", "user", "add", "jane@campus2.test", "--password-stdin");
        Assert.Equal((1, "enginectl: already exists\n"), (again.ExitCode, again.Error));
        Assert.Equal(1, Count(await Enginectl.JsonAsync(engine, "alias", "add", "team@campus2.test", "jane@campus2.test", "bob@elsewhere.test")));
        var team = Assert.Single((await Enginectl.JsonAsync(engine, "alias", "list")).EnumerateArray(), a => a.GetProperty("source").GetString() == "team@campus2.test");
        Assert.Equal(["bob@elsewhere.test", "jane@campus2.test"], team.GetProperty("targets").EnumerateArray().Select(t => t.GetString()).Order());

        // The node reads the change at once: the user logs in, and the alias takes mail.
        using (var imap = await RawImap.GreetedAsync(engine.ImapPort))
            Assert.Contains("a OK", await imap.ExchangeAsync("a LOGIN jane@campus2.test \"first secret\"\r\n", "a"));
        Assert.Equal(1, Count(await Enginectl.JsonWithInputAsync(engine, "second secret\n", "user", "passwd", "jane@campus2.test")));
        using (var imap = await RawImap.GreetedAsync(engine.ImapPort))
        {
            Assert.Contains("a NO", await imap.ExchangeAsync("a LOGIN jane@campus2.test \"first secret\"\r\n", "a"));
            Assert.Contains("b OK", await imap.ExchangeAsync("b LOGIN jane@campus2.test \"second secret\"\r\n", "b"));
        }
        await using (var smtp = await RawSmtp.GreetedAsync(engine.Port))
        {
            await smtp.CommandAsync("EHLO client.test");
            await smtp.CommandAsync("MAIL FROM:<a@client.test>");
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<team@campus2.test>")).Code);
        }

        Assert.Equal(1, (await Enginectl.RunAsync(engine, "domain", "del", "campus2.test")).ExitCode); // it still has a user
        Assert.Equal(1, Count(await Enginectl.JsonAsync(engine, "alias", "del", "team@campus2.test")));
        Assert.Equal(1, Count(await Enginectl.JsonAsync(engine, "user", "del", "jane@campus2.test")));
        Assert.Equal(0, (await Enginectl.RunAsync(engine, "domain", "del", "campus2.test")).ExitCode); // silent without --json, as Postfix's tools
        Assert.DoesNotContain("campus2.test", (await Enginectl.JsonAsync(engine, "domain", "list")).EnumerateArray().Select(d => d.GetProperty("name").GetString()));
        Assert.Equal(4, (await Enginectl.RunAsync(engine, "user", "del", "jane@campus2.test")).ExitCode);
        Assert.Empty((await Enginectl.JsonAsync(engine, "user", "list", "campus2.test")).EnumerateArray());
        Assert.Equal(2, (await Enginectl.RunWithInputAsync(engine, "", "user", "passwd", "nobody@campus2.test")).ExitCode); // no password given
    }

    [Fact]
    public async Task Config_show_prints_the_effective_settings_and_with_changed_only_those_off_their_default()
    {
        await using var engine = await EngineInstance.StartAsync("engine.smtp.recipient-limit = 50");
        var changed = (await Enginectl.JsonAsync(engine, "config", "show", "--changed")).EnumerateArray()
            .ToDictionary(s => s.GetProperty("key").GetString()!, s => s.GetProperty("value").GetString()!);
        Assert.Equal("50", changed["engine.smtp.recipient-limit"]);
        Assert.Equal("mx.test", changed["engine.hostname"]);
        Assert.Equal("[mx.test, local.test]", changed["engine.smtp.mydestination"]);
        Assert.DoesNotContain("engine.smtp.message-size-limit", changed.Keys); // still the default
        var all = await Enginectl.RunAsync(engine, "config", "show");
        Assert.Equal(0, all.ExitCode);
        Assert.Contains("\nengine.smtp.hard-error-limit = 20\n", all.Output, StringComparison.Ordinal);
        Assert.Contains("\nengine.smtp.restrictions.client = []\n", all.Output, StringComparison.Ordinal);
        Assert.Contains("\nengine.smtp.recipient-limit = 50\n", all.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exit_codes_say_what_went_wrong()
    {
        await using var engine = await EngineInstance.StartAsync();
        var noTarget = await Enginectl.RunAsync(engine, "queue", "delete");
        Assert.Equal(2, noTarget.ExitCode);
        Assert.Contains("name queue ids, a filter", noTarget.Error, StringComparison.Ordinal);
        Assert.Equal(2, (await Enginectl.RunAsync(engine, "queue", "list", "--queue", "bogus")).ExitCode);
        Assert.Equal(2, (await Enginectl.RunAsync(engine, "queue", "frob")).ExitCode);
        Assert.Equal(4, (await Enginectl.RunAsync(engine, "queue", "show", "0000000000000000")).ExitCode);
        // A POST that is not JSON (a form another site could make a browser send) is refused before anything is done.
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{engine.AdminPort}/") };
        http.DefaultRequestHeaders.Authorization = new("Bearer", File.ReadAllText(engine.AdminTokenFile).Trim());
        using var form = await http.PostAsync("api/config/reload", new FormUrlEncodedContent([]), Ct);
        Assert.Equal(System.Net.HttpStatusCode.UnsupportedMediaType, form.StatusCode);
        Assert.DoesNotContain(engine.Logs.Lines, l => l.StartsWith("reload:", StringComparison.Ordinal));
        Assert.Equal("Mail queue is empty\n", (await Enginectl.RunAsync(engine, "mailq")).Output);
        var unreachable = await Processes.RunAsync(Enginectl.Program, ["--url", $"http://127.0.0.1:{Loopback.FreePort()}", "--token", "x", "mailq"]);
        Assert.Equal(3, unreachable.ExitCode);
        var badToken = await Processes.RunAsync(Enginectl.Program, ["--url", $"http://127.0.0.1:{engine.AdminPort}", "--token", "wrong-token-wrong-token", "mailq"]);
        Assert.Equal(3, badToken.ExitCode);
        Assert.Contains("bearer token", badToken.Error, StringComparison.Ordinal);
        Assert.Equal(4, (await Enginectl.RunAsync(engine, "cluster", "leave", "akka.tcp://engine@127.0.0.1:1")).ExitCode);
    }

    [Fact]
    public async Task Cluster_status_shows_every_member_with_roles_and_shards_and_leave_and_down_take_members_out()
    {
        var dataDir = TempDir.Create("enginectl-cluster");
        var (first, second) = await EngineInstance.StartTwoAsync(dataDir, ["engine.cluster.down-unreachable-after = 7s"], "engine.cluster.roles = [smtp, queue, delivery]");
        await using var firstNode = first;
        await using var secondNode = second;
        // The split brain resolver runs keep-majority with the configured time.
        var akka = first.Services.GetRequiredService<Akka.Actor.ActorSystem>().Settings.Config;
        Assert.Equal(("Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster", "keep-majority", TimeSpan.FromSeconds(7)),
            (akka.GetString("akka.cluster.downing-provider-class"), akka.GetString("akka.cluster.split-brain-resolver.active-strategy"),
                akka.GetTimeSpan("akka.cluster.split-brain-resolver.stable-after")));
        var status = await Enginectl.JsonAsync(first, "cluster", "status");
        var members = status.GetProperty("members").EnumerateArray().ToArray();
        Assert.Equal(2, members.Length);
        Assert.All(members, m => Assert.Equal("up", m.GetProperty("status").GetString()));
        var secondAddress = members.Single(m => !m.GetProperty("self").GetBoolean()).GetProperty("address").GetString()!;
        Assert.Equal(["delivery", "queue", "smtp"], members.Single(m => !m.GetProperty("self").GetBoolean()).GetProperty("roles").EnumerateArray().Select(r => r.GetString()));
        // A listing asks every queue partition, which starts them where their shards are placed; then all 16 run.
        Assert.Equal(0, (await Enginectl.JsonAsync(first, "queue", "list")).GetProperty("total").GetInt32());
        await WaitForAsync(async () => Partitions(await Enginectl.JsonAsync(first, "cluster", "status")) == 16, "not every queue partition runs");
        // config reload reaches every member, and each answers for itself (no file here: nothing changed).
        var reload = (await Enginectl.JsonAsync(first, "config", "reload")).GetProperty("nodes").EnumerateArray()
            .Select(n => (n.GetProperty("node").GetString(), n.GetProperty("applied").GetBoolean(), n.GetProperty("changed").GetArrayLength())).ToArray();
        Assert.Equal(members.Select(m => (m.GetProperty("address").GetString(), true, 0)).Order(), reload.Order());

        Assert.Equal(1, (await Enginectl.JsonAsync(first, "cluster", "leave", secondAddress)).GetProperty("count").GetInt32());
        await WaitForAsync(async () => (await Enginectl.JsonAsync(first, "cluster", "status")).GetProperty("members").GetArrayLength() == 1,
            "the second node did not leave");
        // The second node's partitions are remembered entities: they start again on the first without being asked.
        await WaitForAsync(async () => Partitions(await Enginectl.JsonAsync(first, "cluster", "status")) == 16, "the partitions did not move to the first node");
        // A third node joins; down takes it out.
        await using var third = await EngineInstance.StartInAsync(dataDir, $"engine.cluster.seed-nodes = [\"{status.GetProperty("self").GetString()}\"]");
        await WaitForAsync(async () => (await Enginectl.JsonAsync(first, "cluster", "status")).GetProperty("members").EnumerateArray()
            .Count(m => m.GetProperty("status").GetString() == "up") == 2, "the third node did not join");
        var thirdAddress = (await Enginectl.JsonAsync(third, "cluster", "status")).GetProperty("self").GetString()!;
        Assert.Equal(1, Count(await Enginectl.JsonAsync(first, "cluster", "down", thirdAddress)));
        var again = await Enginectl.RunAsync(first, "cluster", "down", thirdAddress); // still a member until the leader removes it
        Assert.True(again.ExitCode == 0 ? again.Output == $"enginectl: {thirdAddress}: down requested\n" : again.ExitCode == 4, again.Output + again.Error);
        await WaitForAsync(async () => (await Enginectl.JsonAsync(first, "cluster", "status")).GetProperty("members").GetArrayLength() == 1,
            "the downed node is still a member");
    }

    [Fact]
    public async Task Log_shows_the_life_of_a_message_from_every_node_in_time_order()
    {
        // The second node only takes SMTP (and serves the admin API): the message is received there, queued and delivered on the first.
        var dataDir = Accounts.WithJane("enginectl-log");
        var (first, second) = await EngineInstance.StartTwoAsync(dataDir, [], "engine.cluster.roles = [smtp, web]");
        await using var firstNode = first;
        await using var secondNode = second;
        var id = await RawSmtp.SendMessageAsync(second.Port, "alice@client.test", "Subject: traced\r\n\r\nx", "jane@campus.test");
        await first.Logs.WaitForAsync(l => l == $"{id}: removed");

        var log = await Enginectl.JsonAsync(second, "log", id);
        Assert.Equal(id, log.GetProperty("queueId").GetString());
        Assert.Equal(0, log.GetProperty("silent").GetArrayLength());
        var lines = log.GetProperty("lines").EnumerateArray()
            .Select(l => (Node: l.GetProperty("node").GetString()!, Text: l.GetProperty("text").GetString()!, Time: l.GetProperty("time").GetDateTimeOffset())).ToArray();
        Assert.Equal(lines.OrderBy(l => l.Time), lines);
        var received = Assert.Single(lines, l => l.Text.StartsWith($"{id}: client=", StringComparison.Ordinal));
        var delivered = Assert.Single(lines, l => l.Text.StartsWith($"{id}: to=<jane@campus.test>", StringComparison.Ordinal));
        var removed = Assert.Single(lines, l => l.Text == $"{id}: removed");
        Assert.Contains("status=sent (delivered to maildir", delivered.Text, StringComparison.Ordinal);
        Assert.NotEqual(received.Node, delivered.Node);
        Assert.Equal(delivered.Node, removed.Node);
        Assert.True(received.Time <= delivered.Time && delivered.Time <= removed.Time);
        Assert.All(lines, l => Assert.StartsWith($"{id}: ", l.Text, StringComparison.Ordinal));

        // As text: one line each, the node that logged it after the time.
        var text = await Enginectl.RunAsync(first, "log", id);
        Assert.Equal(0, text.ExitCode);
        var printed = text.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(lines.Length, printed.Length);
        Assert.Contains(printed, l => l.Contains($" {received.Node[(received.Node.IndexOf('@') + 1)..]} Engine.Smtp: {id}: client=", StringComparison.Ordinal));

        // Not a queue id: a usage error; a queue id nobody logged: not found.
        Assert.Equal(2, (await Enginectl.RunAsync(first, "log", "not-an-id")).ExitCode);
        var unknown = await Enginectl.RunAsync(first, "log", "01M8J85BV5SKQ2N8");
        Assert.Equal(4, unknown.ExitCode);
        Assert.Contains("no node has log lines for 01M8J85BV5SKQ2N8", unknown.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Over_https_a_client_certificate_from_the_configured_CA_authenticates_instead_of_the_token()
    {
        var dir = TempDir.Create("enginectl-certs");
        using var ca = new TestCertificates(Path.Combine(dir, "ca"));
        using var stranger = new TestCertificates(Path.Combine(dir, "stranger"));
        var (_, _, server) = ca.Issue("mx.test", "mx");
        var (operatorChain, operatorKey, _) = ca.Issue("operator", "operator", client: true);
        var (strangerChain, strangerKey, _) = stranger.Issue("operator", "operator", client: true);
        await using var engine = await EngineInstance.StartAsync(TestCertificates.Setting(server), "engine.web.tls = on",
            $"engine.web.client-ca = \"{ca.AuthorityFile}\"");
        var url = $"https://127.0.0.1:{engine.AdminPort}";
        Task<Processes.Result> RunAsync(params string[] args) =>
            Processes.RunAsync(Enginectl.Program, ["--url", url, .. args], TimeSpan.FromMinutes(1));

        // The operator's certificate, no token: every verb works.
        var stats = await Processes.RunAsync(Enginectl.Program, ["--url", url, "--ca", ca.AuthorityFile, "--cert", operatorChain, "--key", operatorKey,
            "stats", "--json"], TimeSpan.FromMinutes(1));
        Assert.True(stats.ExitCode == 0, stats.Error);
        Assert.Equal(1, JsonDocument.Parse(stats.Output).RootElement.GetProperty("membersUp").GetInt32());
        // The token works over https too.
        var token = await Processes.RunAsync(Enginectl.Program, ["--url", url, "--ca", ca.AuthorityFile, "--token-file", engine.AdminTokenFile, "stats"],
            TimeSpan.FromMinutes(1));
        Assert.True(token.ExitCode == 0, token.Error);

        // A wrong token and no certificate: 401, exit 3. A certificate of another CA: the handshake fails, exit 3. An engine whose certificate is not
        // of the CA given: refused by enginectl, exit 3. --cert over http, or without --key: usage, exit 2.
        var none = await RunAsync("--ca", ca.AuthorityFile, "--token", "wrong", "stats");
        Assert.Equal((3, true), (none.ExitCode, none.Error.Contains("a valid bearer token or client certificate is needed", StringComparison.Ordinal)));
        foreach (var refused in new[]
        {
            await RunAsync("--ca", ca.AuthorityFile, "--cert", strangerChain, "--key", strangerKey, "stats"),
            await RunAsync("--ca", stranger.AuthorityFile, "--cert", operatorChain, "--key", operatorKey, "stats"),
        })
        {
            Assert.True(refused.ExitCode == 3 && refused.Error.StartsWith("enginectl: cannot reach the engine's admin API: ", StringComparison.Ordinal),
                refused.Error);
        }
        Assert.Equal(2, (await Processes.RunAsync(Enginectl.Program, ["--url", $"http://127.0.0.1:{engine.AdminPort}", "--cert", operatorChain,
            "--key", operatorKey, "stats"], TimeSpan.FromMinutes(1))).ExitCode);
        Assert.Equal(2, (await RunAsync("--ca", ca.AuthorityFile, "--cert", operatorChain, "stats")).ExitCode);
    }
}
