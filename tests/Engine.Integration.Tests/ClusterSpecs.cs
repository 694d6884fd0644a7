using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using Engine.Host;
using Engine.Integration.Tests.Support;
using Engine.Storage.Accounts;
using MailKit;
using MailKit.Net.Imap;
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

    private const string Jane = "jane@campus.test";

    private static void Say(string line) => TestContext.Current.TestOutputHelper?.WriteLine(line);

    private sealed record Node(EngineProcess Process, string Url, string TokenFile, int Index)
    {
        public string Address => Addresses[Index];
    }

    /// <summary>The three nodes, their shared storage and the sink that stands for the Internet.</summary>
    private sealed class Farm : IAsyncDisposable
    {
        private readonly string[] _common;
        private readonly int[] _cluster = Addresses.Select(_ => Loopback.FreePort()).ToArray();
        private readonly int[] _web = Addresses.Select(_ => Loopback.FreePort()).ToArray();
        private readonly int[] _smtp = Addresses.Select(_ => Loopback.FreePort()).ToArray();
        private readonly int[] _imap = Addresses.Select(_ => Loopback.FreePort()).ToArray();

        private Farm(string root, SmtpSink sink, string[] common) => (Root, Sink, _common) = (root, sink, common);

        public string Root { get; }
        public SmtpSink Sink { get; }
        public Node?[] Nodes { get; } = new Node?[Addresses.Length];

        /// <summary>Every process started, restarted ones too: their logs explain a failure.</summary>
        public List<Node> Started { get; } = [];

        /// <summary>The lines of every node's log that contain one of <paramref name="words"/>.</summary>
        public string LogLines(params string[] words) => string.Join("\n", Started.SelectMany(n => n.Process.Output.Select(l => $"{n.Address}: {l}"))
            .Where(l => words.Any(w => l.Contains(w, StringComparison.OrdinalIgnoreCase))).Take(60));
        public IEnumerable<Node> Running => Nodes.OfType<Node>();

        public int ImapPort(int index) => _imap[index];

        public static async Task<Farm> StartAsync(string name, params string[] extra)
        {
            var root = TempDir.Create(name);
            var sink = await SmtpSink.StartAsync();
            var connectionString = await PostgresServer.CreateDatabaseAsync();
            string[] common =
            [
                "engine.persistence.provider = postgresql", $"engine.persistence.postgresql.connection-string = \"{connectionString}\"",
                $"engine.storage.spool-dir = \"{Path.Combine(root, "spool")}\"", $"engine.mailbox.root = \"{Path.Combine(root, "mail")}\"",
                "engine.cluster.down-unreachable-after = 5s", $"engine.delivery.transport = {{ \"far.test\" = \"smtp:[127.0.0.1]:{sink.Port}\" }}",
                // A delivery cut off by a kill or a stop is deferred; it is tried again in seconds, not Postfix's minutes.
                "engine.queue.minimal-backoff = 2s", "engine.queue.maximal-backoff = 10s",
                "engine.imap.auth-failure-delay = 200ms", .. extra,
            ];
            var directory = EngineHost.OpenDirectory(EngineConfig.Load(null, [$"engine.data-dir = \"{root}\"", .. common]));
            directory.AddDomain("campus.test");
            directory.AddUser(Jane, "Jane", PasswordHasher.Hash(Accounts.Password, Accounts.TestCost), 0);
            var farm = new Farm(root, sink, common);
            try
            {
                for (var i = 0; i < Addresses.Length; i++)
                    await farm.StartNodeAsync(i);
                await farm.WaitForUpAsync(3, TimeSpan.FromSeconds(60));
                return farm;
            }
            catch
            {
                await farm.DisposeAsync();
                throw;
            }
        }

        /// <summary>Starts node <paramref name="index"/> (again) on its addresses and ports; the first node is the seed.</summary>
        public async Task<Node> StartNodeAsync(int index)
        {
            var address = Addresses[index];
            var dataDir = Path.Combine(Root, $"node{index + 1}");
            var seeds = Enumerable.Range(0, Addresses.Length).Where(i => i != index).Select(i => $"\"akka.tcp://engine@{Addresses[i]}:{_cluster[i]}\"");
            // The first start of the first node makes the cluster; any later start joins whoever is up.
            var seedNodes = index == 0 && Nodes.All(n => n is null) ? "[]" : $"[{string.Join(", ", seeds)}]";
            var process = await EngineProcess.StartNodeAsync(dataDir, address, _smtp[index], [.. _common,
                $"engine.cluster.hostname = \"{address}\"", $"engine.cluster.port = {_cluster[index]}", $"engine.cluster.seed-nodes = {seedNodes}",
                $"engine.web.listen = [\"{address}:{_web[index]}\"]", $"engine.imap.listen = [\"{address}:{_imap[index]}\"]"]);
            var node = new Node(process, $"http://{address}:{_web[index]}", Path.Combine(dataDir, "admin.token"), index);
            Nodes[index] = node;
            Started.Add(node);
            return node;
        }

        /// <summary>Waits until a running node sees <paramref name="count"/> members up (and no other member).</summary>
        public async Task WaitForUpAsync(int count, TimeSpan timeout) =>
            await WaitForAsync(async () =>
            {
                foreach (var node in Running)
                {
                    try
                    {
                        var members = (await StatusAsync(node)).GetProperty("members").EnumerateArray().ToArray();
                        return members.Length == count && members.All(m => m.GetProperty("status").GetString() == "up");
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        // a node that is starting or stopping does not answer yet (enginectl fails): ask another
                    }
                }
                return false;
            }, timeout, $"the cluster did not reach {count} members up");

        public async ValueTask DisposeAsync()
        {
            foreach (var node in Started)
                await node.Process.DisposeAsync();
            Sink.Dispose();
        }
    }

    private static async Task<JsonElement> StatusAsync(Node node) => await Enginectl.JsonAsync(node.Url, node.TokenFile, "cluster", "status");

    /// <summary>
    /// enginectl cluster status, asked every second of a running node while the test goes on: each answer shortened to
    /// one line (members with their roles, queue partitions and mailboxes per node) for the test's output.
    /// </summary>
    private sealed class StatusWatch : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private readonly DateTime _start = DateTime.UtcNow;
        private DateTime _last = DateTime.UtcNow;

        private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

        /// <summary>The longest time without an answer: what an operator would have waited for one.</summary>
        public TimeSpan MaxGap { get; private set; }

        public StatusWatch(Func<IEnumerable<Node>> ask) => _loop = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                var answered = false;
                foreach (var node in ask())
                {
                    try
                    {
                        Lines.Enqueue($"{(DateTime.UtcNow - _start).TotalSeconds,6:0.0} s  {Summary(await StatusAsync(node))}  (asked {node.Address})");
                        answered = true;
                        var now = DateTime.UtcNow;
                        MaxGap = Max(MaxGap, now - _last);
                        _last = now;
                        break;
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        Failures.Enqueue($"{node.Address}: {e.Message.Split('\n')[0]}");
                    }
                }
                if (!answered)
                    Unanswered++;
                await Task.Delay(1000).ConfigureAwait(false);
            }
        });

        public ConcurrentQueue<string> Lines { get; } = new();
        public ConcurrentQueue<string> Failures { get; } = new();

        /// <summary>Rounds where no running node answered.</summary>
        public int Unanswered { get; private set; }

        private static string Summary(JsonElement status)
        {
            static string Host(string address) => address.Split('@')[^1].Split(':')[0];
            var members = status.GetProperty("members").EnumerateArray().Select(m =>
                $"{Host(m.GetProperty("address").GetString()!)} {m.GetProperty("status").GetString()}"
                + (m.GetProperty("reachable").GetBoolean() ? "" : " unreachable")
                + $" [{string.Join(",", m.GetProperty("roles").EnumerateArray().Select(r => r.GetString()))}]");
            var shards = status.GetProperty("shards").EnumerateArray()
                .Where(s => s.GetProperty("type").GetString() is "queue-partition" or "mailbox")
                .Select(s => s.GetProperty("type").GetString() + " " + string.Join(" ", s.GetProperty("regions").EnumerateArray()
                    .Select(r => $"{Host(r.GetProperty("address").GetString()!)}={r.GetProperty("entities").GetInt32()}")));
            return string.Join("; ", members) + " | " + string.Join(" | ", shards);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _loop;
            foreach (var line in Lines)
                Say(line);
        }
    }

    /// <summary>
    /// Senders: each message in its own SMTP session to a node, as MX clients do. A node that refuses the connection
    /// (stopped) or says 421 (stopping) is a retry on the next node, as a sender tries the next MX; anything else that
    /// goes wrong is recorded as an error the client saw.
    /// </summary>
    private sealed class Load(Farm farm, int total)
    {
        private int _next;
        private int _limit = total;

        public ConcurrentDictionary<int, string> Accepted { get; } = new(); // sequence → recipient
        public ConcurrentQueue<string> Errors { get; } = new();
        public ConcurrentQueue<string> ServiceClosing { get; } = new(); // the 421s
        public ConcurrentQueue<string> NotGreeted { get; } = new(); // connections reset before the greeting
        private int _taken;

        /// <summary>Messages taken by a sender so far.</summary>
        public int Sent => Volatile.Read(ref _taken);

        /// <summary>No new message after those under way.</summary>
        public void Stop() => Volatile.Write(ref _limit, 0);

        public Task RunAsync(int workers) => Task.WhenAll(Enumerable.Range(0, workers).Select(WorkerAsync));

        private async Task WorkerAsync(int worker)
        {
            while (Interlocked.Increment(ref _next) is var n && n <= Volatile.Read(ref _limit))
            {
                Interlocked.Increment(ref _taken);
                var to = n % 2 == 0 ? Jane : $"user{n}@far.test";
                for (var attempt = 0; attempt < 30; attempt++)
                {
                    var node = farm.Nodes[(n + worker + attempt) % Addresses.Length];
                    if (node is null || node.Process.HasExited)
                        continue;
                    var outcome = await SendAsync(node, to, n);
                    if (outcome == Outcome.Accepted)
                    {
                        Accepted[n] = to;
                        break;
                    }
                    if (outcome == Outcome.Failed)
                        break;
                    await Task.Delay(100); // refused or 421: the next node, as the next MX
                }
            }
        }

        private enum Outcome
        {
            Accepted,
            TryAnother,
            Failed,
        }

        private async Task<Outcome> SendAsync(Node node, string to, int sequence)
        {
            var seq = sequence.ToString(CultureInfo.InvariantCulture);
            var message = new MimeMessage();
            message.From.Add(MailboxAddress.Parse("load@client.test"));
            message.To.Add(MailboxAddress.Parse(to));
            message.Subject = "load " + seq;
            message.Headers.Add("X-Seq", seq);
            message.Body = new TextPart("plain") { Text = "message " + seq };
            using var client = new SmtpClient { Timeout = 60_000 };
            try
            {
                await client.ConnectAsync(node.Process.Address, node.Process.Port, SecureSocketOptions.None, Ct);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
            {
                return Outcome.TryAnother; // the node is down: the next MX
            }
            catch (Exception e) when (e is IOException or SocketException or SmtpProtocolException)
            {
                // Accepted by the kernel but never greeted (a node dying or closing its listener with clients in the
                // backlog): to a sender the host did not answer, and it tries the next MX (RFC 5321 section 5.1).
                NotGreeted.Enqueue($"{seq} at {node.Address}: {e.Message}");
                return Outcome.TryAnother;
            }
            catch (SmtpCommandException e) when ((int)e.StatusCode == 421)
            {
                ServiceClosing.Enqueue($"{seq} at {node.Address}: greeting {e.Message}");
                return Outcome.TryAnother;
            }
            try
            {
                await client.SendAsync(message, Ct);
            }
            catch (SmtpCommandException e) when ((int)e.StatusCode == 421)
            {
                ServiceClosing.Enqueue($"{seq} at {node.Address}: {e.Message}");
                return Outcome.TryAnother;
            }
            catch (Exception e) when (e is not OperationCanceledException || !Ct.IsCancellationRequested)
            {
                Errors.Enqueue($"{seq} at {node.Address}: {e.GetType().Name}: {e.Message}");
                return Outcome.Failed;
            }
            try
            {
                await client.DisconnectAsync(true, Ct);
            }
            catch (Exception e) when (e is IOException or SocketException or SmtpCommandException or SmtpProtocolException)
            {
                // the 250 came: a QUIT that a stopping node answers with 421 or not at all changes nothing
            }
            return Outcome.Accepted;
        }

        /// <summary>Waits until every accepted message arrived: in the mailbox, exactly once, and at the sink, at least once.</summary>
        public async Task AssertAllArrivedAsync(TimeSpan timeout)
        {
            var local = Accepted.Where(a => a.Value == Jane).Select(a => a.Key.ToString(CultureInfo.InvariantCulture)).ToArray();
            var remote = Accepted.Where(a => a.Value != Jane).Select(a => a.Key.ToString(CultureInfo.InvariantCulture)).ToArray();
            string[] Missing()
            {
                var delivered = Delivered(farm.Root);
                var sunk = farm.Sink.CountHeader("X-Seq");
                return [.. local.Where(n => !delivered.ContainsKey(n)), .. remote.Where(n => !sunk.ContainsKey(n))];
            }
            var deadline = DateTime.UtcNow + timeout;
            while (Missing().Length > 0 && DateTime.UtcNow < deadline)
                await Task.Delay(500, Ct);
            var missing = Missing();
            Assert.True(missing.Length == 0, $"{missing.Length} accepted but not arrived: " + string.Join(", ", missing.Take(50)) + "\n"
                + string.Join("\n", farm.Running.SelectMany(n => n.Process.Output).Where(l => l.Contains("status=deferred", StringComparison.Ordinal)
                    || l.Contains("status=bounced", StringComparison.Ordinal) || l.Contains("corrupt", StringComparison.Ordinal)).Take(40)));
            Assert.DoesNotContain(Delivered(farm.Root), d => d.Value > 1);
            Say($"{local.Length} accepted for the mailbox and {remote.Length} for the sink, of {Sent}; all arrived, none twice in the mailbox");
        }
    }

    /// <summary>The X-Seq of every message in jane's INBOX (new/ and cur/), with how many times each is there.</summary>
    private static Dictionary<string, int> Delivered(string root)
    {
        var inbox = Path.Combine(root, "mail", "campus.test", "jane");
        return new[] { "new", "cur" }.Select(d => Path.Combine(inbox, d)).Where(Directory.Exists).SelectMany(Directory.GetFiles)
            .Select(f => File.ReadLines(f).FirstOrDefault(l => l.StartsWith("X-Seq: ", StringComparison.Ordinal))?[7..] ?? "")
            .GroupBy(s => s).ToDictionary(g => g.Key, g => g.Count());
    }

    /// <summary>How many entities of <paramref name="type"/> run on the node at <paramref name="address"/>, as a cluster status says.</summary>
    private static int EntitiesOn(JsonElement status, string type, string address) =>
        status.GetProperty("shards").EnumerateArray().Where(s => s.GetProperty("type").GetString() == type)
            .SelectMany(s => s.GetProperty("regions").EnumerateArray())
            .Where(r => r.GetProperty("address").GetString()!.Contains("@" + address + ":", StringComparison.Ordinal))
            .Sum(r => r.GetProperty("entities").GetInt32());

    private static async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan timeout, string failure)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(250, Ct);
        }
    }

    /// <summary>
    /// An IMAP client of jane's on one node, that keeps working: NOOP (which reports new mail) and a FETCH of the newest
    /// message's X-Seq, every half second, until stopped. Every failure is recorded.
    /// </summary>
    private sealed class ImapReader : IAsyncDisposable
    {
        private readonly ImapClient _client = new() { Timeout = 60_000 };
        private readonly CancellationTokenSource _stop = new();
        private Task _loop = Task.CompletedTask;

        public ConcurrentQueue<string> Errors { get; } = new();
        public int Rounds { get; private set; }

        public async Task StartAsync(string address, int port)
        {
            await _client.ConnectAsync(address, port, SecureSocketOptions.None, Ct);
            await _client.AuthenticateAsync(Jane, Accounts.Password, Ct);
            await _client.Inbox.OpenAsync(FolderAccess.ReadOnly, Ct);
            _loop = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    try
                    {
                        await _client.NoOpAsync(Ct);
                        if (_client.Inbox.Count > 0)
                        {
                            var headers = await _client.Inbox.GetHeadersAsync(_client.Inbox.Count - 1, Ct);
                            Assert.NotNull(headers["X-Seq"]);
                        }
                        Rounds++;
                    }
                    catch (Exception e) when (!_stop.IsCancellationRequested)
                    {
                        Errors.Enqueue($"{DateTime.UtcNow:HH:mm:ss.f} {e.GetType().Name}: {e.Message}");
                        if (!_client.IsConnected)
                            return;
                    }
                    await Task.Delay(500).ConfigureAwait(false);
                }
            });
        }

        /// <summary>Stops the loop; the count of messages the client sees in INBOX after a last NOOP.</summary>
        public async Task<int> StopAsync()
        {
            await _stop.CancelAsync();
            await _loop;
            await _client.NoOpAsync(Ct);
            return _client.Inbox.Count;
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _loop;
            _client.Dispose();
        }
    }

    [Fact]
    public async Task A_node_killed_under_load_loses_no_accepted_message_and_its_partitions_move_within_30_seconds()
    {
        await using var farm = await Farm.StartAsync("cluster-kill");
        var nodes = farm.Nodes.OfType<Node>().ToArray();
        await using var watch = new StatusWatch(() => farm.Running.Where(n => !n.Process.HasExited));

        // 5,000 messages over all three nodes, half to the mailbox and half to the sink; a node is killed half-way.
        const int total = 5000;
        var load = new Load(farm, total);
        var sending = load.RunAsync(8);
        await WaitForAsync(() => Task.FromResult(load.Sent >= total / 4), TimeSpan.FromMinutes(5), "the load did not get a quarter of the way");
        // The victim is the node that holds jane's mailbox entity, so that her IMAP session, on another node, must follow
        // it to its new node; it runs queue partitions too (all nodes do).
        var before = await StatusAsync(nodes[0]);
        var victim = Array.FindIndex(Addresses, a => EntitiesOn(before, "mailbox", a) > 0);
        Assert.True(victim >= 0, "no node holds jane's mailbox");
        Assert.True(EntitiesOn(before, "queue-partition", Addresses[victim]) > 0, $"{Addresses[victim]} runs no queue partition");
        var survivor = nodes.First(n => n.Index != victim);
        await using var reader = new ImapReader();
        await reader.StartAsync(survivor.Address, farm.ImapPort(survivor.Index));

        await WaitForAsync(() => Task.FromResult(load.Sent >= total / 2), TimeSpan.FromMinutes(5), "the load did not get half-way");
        nodes[victim].Process.Kill();
        var killedAt = DateTime.UtcNow;
        Say($"killed {Addresses[victim]}, which held jane's mailbox, after {load.Sent} messages; jane reads over IMAP on {survivor.Address}");

        // While the load goes on, the dead node leaves the cluster and every queue partition runs on the two others within 30 s.
        await WaitForAsync(async () =>
        {
            var status = await StatusAsync(survivor);
            var partitions = status.GetProperty("shards").EnumerateArray().Where(s => s.GetProperty("type").GetString() == "queue-partition")
                .SelectMany(s => s.GetProperty("regions").EnumerateArray()).ToArray();
            return status.GetProperty("members").GetArrayLength() == 2 && partitions.Sum(r => r.GetProperty("entities").GetInt32()) == 16
                && partitions.All(r => !r.GetProperty("address").GetString()!.Contains(Addresses[victim], StringComparison.Ordinal));
        }, TimeSpan.FromSeconds(30) - (DateTime.UtcNow - killedAt), "the dead node's partitions were not owned elsewhere within 30 s");
        Say($"partitions owned again {(DateTime.UtcNow - killedAt).TotalSeconds:0.0} s after the kill");
        await sending;

        // Every message a node said 250 to arrives: in the mailbox exactly once, at the sink at least once.
        Assert.True(load.Accepted.Count > total * 3 / 4, $"too few accepted: {load.Accepted.Count} of {total}");
        await load.AssertAllArrivedAsync(TimeSpan.FromMinutes(3));

        // The IMAP client on the surviving node kept working through the kill and sees every message delivered.
        var seen = await reader.StopAsync();
        Assert.True(reader.Errors.IsEmpty, "the IMAP client on the surviving node failed: " + string.Join("\n", reader.Errors.Take(10)));
        var delivered = Delivered(farm.Root).Count;
        Assert.True(delivered == seen, $"the IMAP client sees {seen} messages, {delivered} were delivered\n"
            + string.Join("\n", survivor.Process.Output.Where(l => l.Contains("ailbox", StringComparison.Ordinal) || l.Contains("rror", StringComparison.Ordinal)
                || l.Contains("imap", StringComparison.OrdinalIgnoreCase)).TakeLast(40)));
        // enginectl cluster status answered on a surviving node all along.
        Assert.Equal(0, watch.Unanswered);
        Assert.True(watch.MaxGap < TimeSpan.FromSeconds(10), $"enginectl cluster status took {watch.MaxGap.TotalSeconds:0.0} s to answer");
        Say($"IMAP: {reader.Rounds} rounds of NOOP and FETCH, no error; {load.Errors.Count} SMTP sessions cut by the kill");
    }

    [Fact]
    public async Task A_rolling_restart_under_load_loses_nothing_and_clients_see_only_421_from_the_node_leaving()
    {
        await using var farm = await Farm.StartAsync("cluster-rolling");
        await using var watch = new StatusWatch(() => farm.Running.Where(n => !n.Process.HasExited));
        var load = new Load(farm, int.MaxValue);
        var sending = load.RunAsync(6);

        // Each node in turn: SIGTERM (systemctl restart), wait for its exit, start it again and wait until it is up.
        for (var i = 0; i < Addresses.Length; i++)
        {
            await Task.Delay(3000, Ct); // load on the whole cluster between restarts
            var node = farm.Nodes[i]!;
            var before = load.Accepted.Count;
            node.Process.Terminate();
            Assert.Equal(0, await node.Process.WaitForExitAsync(TimeSpan.FromSeconds(90)));
            farm.Nodes[i] = null; // its process stays in farm.Started for the logs
            await farm.WaitForUpAsync(2, TimeSpan.FromSeconds(30));
            await farm.StartNodeAsync(i);
            await farm.WaitForUpAsync(3, TimeSpan.FromSeconds(60));
            Say($"restarted {Addresses[i]}; {load.Accepted.Count - before} messages accepted meanwhile");
        }
        await Task.Delay(3000, Ct);
        load.Stop();
        await sending;

        Assert.True(load.Errors.IsEmpty, $"{load.Errors.Count} client-visible errors other than 421: " + string.Join("\n", load.Errors.Take(20))
            + "\n" + farm.LogLines("not queued", "journal", "persist", "Exception"));
        Assert.True(load.Accepted.Count > 300, $"too little load: {load.Accepted.Count} accepted");
        await load.AssertAllArrivedAsync(TimeSpan.FromMinutes(3));
        Assert.Equal(0, watch.Unanswered);
        Assert.True(watch.MaxGap < TimeSpan.FromSeconds(10), $"enginectl cluster status took {watch.MaxGap.TotalSeconds:0.0} s to answer");
        Say($"{load.ServiceClosing.Count} sessions got 421 from a node leaving and {load.NotGreeted.Count} connections were reset before a greeting"
            + " (a listener closing with clients in its backlog); each went on to another node");
    }
}
