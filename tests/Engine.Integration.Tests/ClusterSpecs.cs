using System.Collections.Concurrent;
using System.Text.Json;
using Engine.Host;
using Engine.Integration.Tests.Support;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Engine.Integration.Tests;

/// <summary>
/// Three engine processes on 127.0.0.2, .3 and .4, one cluster over Akka remoting, sharing a PostgreSQL database
/// (journal, snapshots, directory), a spool and a mail folder, as a farm shares them.
/// </summary>
public sealed class ClusterSpecs
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly string[] Addresses = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];

    private sealed record Node(EngineProcess Process, string Url, string TokenFile);

    private static async Task<Node> StartNodeAsync(string root, int index, int[] clusterPorts, int[] webPorts, string[] common)
    {
        var address = Addresses[index];
        var dataDir = Path.Combine(root, $"node{index + 1}");
        var seed = $"akka.tcp://engine@{Addresses[0]}:{clusterPorts[0]}";
        var process = await EngineProcess.StartNodeAsync(dataDir, address, [.. common,
            $"engine.cluster.hostname = \"{address}\"", $"engine.cluster.port = {clusterPorts[index]}",
            index == 0 ? "engine.cluster.seed-nodes = []" : $"engine.cluster.seed-nodes = [\"{seed}\"]",
            $"engine.web.listen = [\"{address}:{webPorts[index]}\"]"]);
        return new Node(process, $"http://{address}:{webPorts[index]}", Path.Combine(dataDir, "admin.token"));
    }

    /// <summary>Sends one message through a node; its queue id when the node said 250, null when it did not (refused, gone).</summary>
    private static async Task<string?> SendAsync(Node node, string to, string sequence)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("load@client.test"));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = "load " + sequence;
        message.Headers.Add("X-Seq", sequence);
        message.Body = new TextPart("plain") { Text = "message " + sequence };
        using var client = new SmtpClient { Timeout = 20_000 };
        try
        {
            await client.ConnectAsync(node.Process.Address, node.Process.Port, SecureSocketOptions.None, Ct);
            var reply = await client.SendAsync(message, Ct);
            await client.DisconnectAsync(true, Ct);
            return reply.Split(' ')[^1];
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or SmtpCommandException or SmtpProtocolException
                                      or ServiceNotConnectedException or TimeoutException or OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>How many queue partitions run on the node at <paramref name="address"/>.</summary>
    private static int PartitionsOn(JsonElement status, string address) =>
        status.GetProperty("shards").EnumerateArray().Where(s => s.GetProperty("type").GetString() == "queue-partition")
            .SelectMany(s => s.GetProperty("regions").EnumerateArray())
            .Where(r => r.GetProperty("address").GetString()!.Contains("@" + address + ":", StringComparison.Ordinal))
            .Sum(r => r.GetProperty("entities").GetInt32());

    private static async Task<JsonElement> StatusAsync(Node node) => await Enginectl.JsonAsync(node.Url, node.TokenFile, "cluster", "status");

    private static async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan timeout, string failure)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(250, Ct);
        }
    }

    [Fact]
    public async Task A_node_killed_under_load_loses_no_accepted_message_and_its_partitions_move_within_30_seconds()
    {
        var root = TempDir.Create("cluster");
        using var sink = await SmtpSink.StartAsync();
        var connectionString = await PostgresServer.CreateDatabaseAsync();
        string[] common =
        [
            "engine.persistence.provider = postgresql", $"engine.persistence.postgresql.connection-string = \"{connectionString}\"",
            $"engine.storage.spool-dir = \"{Path.Combine(root, "spool")}\"", $"engine.mailbox.root = \"{Path.Combine(root, "mail")}\"",
            "engine.cluster.down-unreachable-after = 5s", $"engine.delivery.transport = {{ \"far.test\" = \"smtp:[127.0.0.1]:{sink.Port}\" }}",
            // A delivery cut off by the kill is deferred; it is tried again in seconds, not Postfix's minutes.
            "engine.queue.minimal-backoff = 2s", "engine.queue.maximal-backoff = 10s",
        ];
        var directory = EngineHost.OpenDirectory(EngineConfig.Load(null, [$"engine.data-dir = \"{root}\"", .. common]));
        directory.AddDomain("campus.test");
        directory.AddUser("jane@campus.test", "Jane", "{LOCKED}", 0);

        var clusterPorts = Addresses.Select(_ => Loopback.FreePort()).ToArray();
        var webPorts = Addresses.Select(_ => Loopback.FreePort()).ToArray();
        var nodes = new List<Node>();
        try
        {
            for (var i = 0; i < Addresses.Length; i++)
                nodes.Add(await StartNodeAsync(root, i, clusterPorts, webPorts, common));
            await WaitForAsync(async () => (await StatusAsync(nodes[0])).GetProperty("members").EnumerateArray()
                .Count(m => m.GetProperty("status").GetString() == "up") == 3, TimeSpan.FromSeconds(60), "the three nodes did not form a cluster");

            // Load over all three nodes, half to a mailbox and half to the sink; the third node is killed half-way.
            var accepted = new ConcurrentDictionary<string, string>(); // sequence → recipient
            const int total = 300;
            var sequence = 0;
            async Task SendLoopAsync(int worker)
            {
                while (Interlocked.Increment(ref sequence) is var n && n <= total)
                {
                    var to = n % 2 == 0 ? "jane@campus.test" : $"user{n}@far.test";
                    var node = nodes[(n + worker) % nodes.Count];
                    if (await SendAsync(node, to, n.ToString(System.Globalization.CultureInfo.InvariantCulture)) is not null)
                        accepted[n.ToString(System.Globalization.CultureInfo.InvariantCulture)] = to;
                }
            }
            var load = Enumerable.Range(0, 4).Select(SendLoopAsync).ToArray();
            await WaitForAsync(() => Task.FromResult(Volatile.Read(ref sequence) >= total / 2), TimeSpan.FromSeconds(120), "the load did not get half-way");
            // The node to be killed runs queue partitions (so failing over is put to the test).
            Assert.True(PartitionsOn(await StatusAsync(nodes[0]), Addresses[2]) > 0, "the third node runs no queue partition");
            nodes[2].Process.Kill();
            var killedAt = DateTime.UtcNow;

            // While the load goes on, the dead node leaves the cluster and every queue partition runs on the two others within 30 s.
            await WaitForAsync(async () =>
            {
                var status = await StatusAsync(nodes[0]);
                var partitions = status.GetProperty("shards").EnumerateArray().Where(s => s.GetProperty("type").GetString() == "queue-partition")
                    .SelectMany(s => s.GetProperty("regions").EnumerateArray()).ToArray();
                return status.GetProperty("members").GetArrayLength() == 2 && partitions.Sum(r => r.GetProperty("entities").GetInt32()) == 16
                    && partitions.All(r => !r.GetProperty("address").GetString()!.Contains(Addresses[2], StringComparison.Ordinal));
            }, TimeSpan.FromSeconds(30) - (DateTime.UtcNow - killedAt), "the dead node's partitions were not owned elsewhere within 30 s");
            var failover = DateTime.UtcNow - killedAt;
            await Task.WhenAll(load);

            // Every message a node said 250 to arrives: in the mailbox exactly once, at the sink at least once.
            var local = accepted.Where(a => a.Value == "jane@campus.test").Select(a => a.Key).Order().ToArray();
            var remote = accepted.Where(a => a.Value != "jane@campus.test").Select(a => a.Key).Order().ToArray();
            Assert.True(local.Length > total / 4 && remote.Length > total / 4, $"too few accepted: {local.Length} local, {remote.Length} remote");
            var inbox = Path.Combine(root, "mail", "campus.test", "jane", "new");
            Dictionary<string, int> Delivered() => (Directory.Exists(inbox) ? Directory.GetFiles(inbox) : [])
                .Select(f => File.ReadLines(f).FirstOrDefault(l => l.StartsWith("X-Seq: ", StringComparison.Ordinal))?[7..] ?? "")
                .GroupBy(s => s).ToDictionary(g => g.Key, g => g.Count());
            string[] Missing() => [.. local.Where(n => !Delivered().ContainsKey(n)), .. remote.Where(n => !sink.CountHeader("X-Seq").ContainsKey(n))];
            var deadline = DateTime.UtcNow.AddSeconds(120);
            while (Missing().Length > 0 && DateTime.UtcNow < deadline)
                await Task.Delay(500, Ct);
            Assert.True(Missing().Length == 0, "accepted but not arrived: " + string.Join(", ", Missing()) + "\n"
                + string.Join("\n", nodes.Take(2).SelectMany(n => n.Process.Output).Where(l => l.Contains("status=deferred", StringComparison.Ordinal) || l.Contains("status=bounced", StringComparison.Ordinal)
                    || l.Contains("corrupt", StringComparison.Ordinal)).Take(40)));
            Assert.DoesNotContain(Delivered(), d => d.Value > 1);
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"accepted {local.Length} for the mailbox and {remote.Length} for the sink of {total}; partitions owned again {failover.TotalSeconds:0.0} s after the kill");
        }
        finally
        {
            foreach (var node in nodes)
                await node.Process.DisposeAsync();
        }
    }
}
