using System.Globalization;
using System.Text;
using Engine.Integration.Tests.Support;

namespace Engine.Integration.Tests;

/// <summary>"250" means on stable storage: a kill -9 right after the last 250 loses nothing and doubles nothing.</summary>
public sealed class DurabilitySpecs
{
    private const int Messages = 300;
    private const int Sessions = 10;

    [Fact]
    public async Task Every_message_answered_250_survives_kill_9_exactly_once_with_its_body_intact()
    {
        var dataDir = TempDir.Create("crash");
        var sent = new Dictionary<string, byte[]>();
        await using (var engine = await EngineProcess.StartAsync(dataDir))
        {
            var work = Enumerable.Range(0, Sessions).Select(async s =>
            {
                var mine = new List<(string Id, byte[] Body)>();
                await using var smtp = await RawSmtp.GreetedAsync(engine.Port);
                Assert.Equal(250, (await smtp.CommandAsync("EHLO client.test")).Code);
                for (var i = s; i < Messages; i += Sessions)
                {
                    var body = Encoding.ASCII.GetBytes($"Subject: message {i}\r\nX-Seq: {i}\r\n\r\n{new string((char)('a' + i % 26), 200 + i)}\r\n.. dot {i}\r\n");
                    // MAIL, RCPT and DATA in one PIPELINING group.
                    await smtp.SendAsync($"MAIL FROM:<sender{i}@client.test>\r\nRCPT TO:<user{i}@mx.test>\r\nDATA\r\n");
                    Assert.Equal(250, (await smtp.ReadAsync()).Code);
                    Assert.Equal(250, (await smtp.ReadAsync()).Code);
                    Assert.Equal(354, (await smtp.ReadAsync()).Code);
                    await smtp.SendAsync([.. Stuff(body), .. ".\r\n"u8.ToArray()]);
                    var reply = await smtp.ReadAsync();
                    Assert.Equal(250, reply.Code);
                    mine.Add((reply.Last.Split(' ')[^1], body));
                }
                return mine;
            }).ToArray();
            foreach (var (id, body) in (await Task.WhenAll(work)).SelectMany(m => m))
                sent.Add(id, body);
            engine.Kill(); // at once after the last 250
        }

        await using var restarted = await EngineInstance.StartInAsync(dataDir);
        var queued = await restarted.QueueAsync();
        Assert.Equal(Messages, sent.Count);
        Assert.Equal(Messages, queued.Count);
        foreach (var message in queued)
        {
            Assert.True(sent.TryGetValue(message.Id.Value, out var body), $"{message.Id} was never answered 250");
            Assert.Equal(body, restarted.BodyAsSent(message));
        }
        Assert.Equal(Messages, queued.Select(m => m.Envelope.Sender).Distinct().Count());
    }

    /// <summary>
    /// The journal commits without an fsync of its own (synchronous=NORMAL) and a group fsync of the WAL makes the commits
    /// durable: each "250" must come after an fsync of the WAL that started after the message's entry was written to it,
    /// and the entry after an fsync of the spool file that holds the body.
    /// Seen with strace on the running engine: the WAL write that carries the message's sender, the fsyncs of the WAL,
    /// and the send of the reply.
    /// </summary>
    [Fact]
    public async Task Each_250_is_sent_after_an_fsync_of_the_journal_that_started_after_the_message_was_written()
    {
        const int count = 5;
        var dataDir = TempDir.Create("wal-sync");
        await using var engine = await EngineProcess.StartAsync(dataDir);
        var ids = new List<string>();
        var calls = await TracedAsync(engine, dataDir, async () =>
        {
            for (var i = 0; i < count; i++)
                ids.Add(await RawSmtp.SendMessageAsync(engine.Port, $"probe{i}@client.test", $"Subject: {i}\r\n\r\nbody {i}\r\n", $"user{i}@mx.test"));
        });
        for (var i = 0; i < count; i++)
        {
            var written = FirstWalWrite(calls, 0, $"probe{i}@client.test") ?? throw new Xunit.Sdk.XunitException($"no write of message {i} to the WAL in the trace");
            var reply = calls.FirstOrDefault(c => c.Name is "sendto" or "sendmsg" or "write" && c.Text.Contains($"queued as {ids[i]}", StringComparison.Ordinal))
                        ?? throw new Xunit.Sdk.XunitException($"no send of the 250 for {ids[i]} in the trace");
            Assert.True(written.Ended < reply.Started, $"message {i}: the 250 was sent before its journal write");
            // The body before the entry: written to the spool and fsynced there before the journal's write names it.
            var spooled = calls.FirstOrDefault(c => c.Name is "pwrite64" or "pwritev" or "write" && c.Text.Contains("/spool/", StringComparison.Ordinal)
                                                    && c.Text.Contains($@"body {i}\r\n", StringComparison.Ordinal))
                          ?? throw new Xunit.Sdk.XunitException($"no write of message {i}'s body to the spool in the trace");
            var spoolFile = spooled.Text[(spooled.Text.IndexOf('(', StringComparison.Ordinal) + 1)..(spooled.Text.IndexOf('>', StringComparison.Ordinal) + 1)];
            Assert.True(calls.Any(c => c.Name is "fsync" or "fdatasync" && c.Text.Contains(spoolFile, StringComparison.Ordinal)
                                       && c.Started > spooled.Ended && c.Ended < written.Started),
                $"message {i}: no fsync of its spool file {spoolFile} between the body's write (line {spooled.Ended}) and the journal's (line {written.Started})");
            Assert.True(WalFsyncBetween(calls, written.Ended, reply.Started),
                $"message {i} ({ids[i]}): no fsync of the WAL between its write (line {written.Ended}) and its 250 (line {reply.Started})");
        }
    }

    /// <summary>
    /// A mailbox gives out a UID (to the queue, which then journals the delivery) only once its append is on disk: between
    /// the WAL write of the mailbox's append and the queue's write of the outcome there is an fsync of the WAL. The
    /// messages go one at a time, so that no other message's writes come between.
    /// </summary>
    [Fact]
    public async Task A_mailbox_answers_a_delivery_only_after_an_fsync_of_the_journal_that_followed_its_append()
    {
        const int count = 3;
        var dataDir = Accounts.WithJane("wal-sync-mailbox");
        await using var engine = await EngineProcess.StartAsync(dataDir);
        await RawSmtp.SendMessageAsync(engine.Port, "first@client.test", "Subject: first\r\n\r\nthe mailbox entity starts\r\n", "jane@campus.test");
        await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", 1);
        var ids = new List<string>();
        var calls = await TracedAsync(engine, dataDir, async () =>
        {
            for (var i = 0; i < count; i++)
            {
                var id = await RawSmtp.SendMessageAsync(engine.Port, $"probe{i}@client.test", $"Subject: {i}\r\n\r\nbody {i}\r\n", "jane@campus.test");
                await engine.WaitForOutputAsync($"{id}: removed", TimeSpan.FromSeconds(30));
                ids.Add(id);
            }
        });
        Assert.Equal(count + 1, (await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", count + 1)).Length);
        for (var i = 0; i < count; i++)
        {
            var appended = FirstWalWrite(calls, 0, $"{ids[i]}/jane@campus.test")
                           ?? throw new Xunit.Sdk.XunitException($"no WAL write of the mailbox's append of {ids[i]} in the trace");
            // The outcome that completes a message is journaled as its removal.
            var delivered = FirstWalWrite(calls, appended.Ended + 1, "qe.removed")
                            ?? throw new Xunit.Sdk.XunitException($"no WAL write of the queue's outcome of {ids[i]} after its append");
            Assert.True(WalFsyncBetween(calls, appended.Ended, delivered.Started),
                $"{ids[i]}: no fsync of the WAL between the mailbox's append (line {appended.Ended}) and the queue's outcome (line {delivered.Started})");
        }
    }

    /// <summary>Runs <paramref name="work"/> with strace attached to every thread of the engine; the calls it saw.</summary>
    private static async Task<List<StraceCalls>> TracedAsync(EngineProcess engine, string dataDir, Func<Task> work)
    {
        var trace = Path.Combine(dataDir, "strace.txt");
        var info = new System.Diagnostics.ProcessStartInfo("strace") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "-f", "-y", "-s", "8192", "-e", "trace=pwrite64,pwritev,write,fsync,fdatasync,sendto,sendmsg", "-o", trace, "-p", engine.Pid.ToString(CultureInfo.InvariantCulture) })
            info.ArgumentList.Add(arg);
        using var strace = System.Diagnostics.Process.Start(info)!;
        var attached = new TaskCompletionSource();
        strace.ErrorDataReceived += (_, e) =>
        {
            if (e.Data?.Contains("attached", StringComparison.Ordinal) == true)
                attached.TrySetResult();
        };
        strace.BeginErrorReadLine();
        await attached.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        try
        {
            await work();
        }
        finally
        {
            using (var interrupt = System.Diagnostics.Process.Start("kill", ["-INT", strace.Id.ToString(CultureInfo.InvariantCulture)]))
                await interrupt.WaitForExitAsync(TestContext.Current.CancellationToken);
            await strace.WaitForExitAsync(TestContext.Current.CancellationToken);
        }
        return StraceCalls.Parse(await File.ReadAllLinesAsync(trace, TestContext.Current.CancellationToken));
    }

    /// <summary>The first write to the journal's WAL, from line <paramref name="from"/> on, whose data holds <paramref name="text"/>.</summary>
    private static StraceCalls? FirstWalWrite(List<StraceCalls> calls, int from, string text) =>
        calls.FirstOrDefault(c => c.Started >= from && c.Name == "pwrite64" && c.Text.Contains("engine.db-wal>", StringComparison.Ordinal)
                                  && c.Text.Contains(text, StringComparison.Ordinal));

    /// <summary>Whether an fsync of the WAL started after line <paramref name="after"/> and ended before line <paramref name="before"/>.</summary>
    private static bool WalFsyncBetween(List<StraceCalls> calls, int after, int before) =>
        calls.Any(c => c.Name is "fsync" or "fdatasync" && c.Text.Contains("engine.db-wal>", StringComparison.Ordinal)
                       && c.Started > after && c.Ended < before);

    /// <summary>The system calls of an <c>strace -f</c> log: a call split by another thread's is joined again, with the lines it started and ended on.</summary>
    private sealed record StraceCalls(string Name, string Text, int Started, int Ended)
    {
        public static List<StraceCalls> Parse(string[] lines)
        {
            var calls = new List<StraceCalls>();
            var open = new Dictionary<string, (string Name, string Text, int Started)>();
            for (var n = 0; n < lines.Length; n++)
            {
                var line = lines[n];
                var space = line.IndexOf(' ', StringComparison.Ordinal);
                if (space < 0)
                    continue;
                var pid = line[..space];
                var rest = line[space..].TrimStart();
                if (rest.StartsWith("<... ", StringComparison.Ordinal))
                {
                    if (open.Remove(pid, out var begun))
                        calls.Add(new StraceCalls(begun.Name, begun.Text + rest, begun.Started, n));
                    continue;
                }
                var paren = rest.IndexOf('(', StringComparison.Ordinal);
                if (paren <= 0)
                    continue;
                var name = rest[..paren];
                if (rest.EndsWith("<unfinished ...>", StringComparison.Ordinal))
                    open[pid] = (name, rest, n);
                else
                    calls.Add(new StraceCalls(name, rest, n, n));
            }
            return calls;
        }
    }

    /// <summary>Dot-stuffing as a client must do it (RFC 5321 section 4.5.2).</summary>
    [Fact]
    public async Task A_journal_write_that_fails_is_asked_again_and_the_client_gets_its_250()
    {
        var dataDir = TempDir.Create("notqueued");
        var hold = Path.Combine(dataDir, "hold.cidr");
        await File.WriteAllTextAsync(hold, "127.0.0.0/8 HOLD\n", TestContext.Current.CancellationToken);
        // One partition, and every message held: the only journal write while the database is locked is the message's.
        await using var engine = await EngineProcess.StartAsync(dataDir, "engine.queue.partitions = 1",
            $"engine.smtp.restrictions.client = [\"check_client_access cidr:{hold}\"]");
        Assert.StartsWith("2.0.0 Ok: queued as", (await SendAsync(engine.Port, "first")).Last[4..]); // the partition runs

        // Another program holds the database's write lock longer than the journal waits (busy_timeout, 10 s): the
        // partition's write fails and it stops. The session asks again a second later, the partition starts again,
        // and its write lands once the lock is gone.
        await using (var locker = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dataDir, "engine.db")};Pooling=False"))
        {
            await locker.OpenAsync(TestContext.Current.CancellationToken);
            await using (var begin = locker.CreateCommand())
            {
                begin.CommandText = "BEGIN EXCLUSIVE";
                await begin.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
            }
            var second = SendAsync(engine.Port, "second");
            await engine.WaitForOutputAsync("journal write failed", TimeSpan.FromSeconds(30));
            await using var rollback = locker.CreateCommand();
            rollback.CommandText = "ROLLBACK";
            await rollback.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
            var reply = await second;
            Assert.True(reply.Code == 250, string.Join("\n", reply.Lines) + "\n" + string.Join("\n", engine.Output.TakeLast(30)));
            var id = reply.Last.Split(' ')[^1];
            await engine.WaitForOutputAsync($"{id}: held", TimeSpan.FromSeconds(10));
        }
    }

    private static async Task<RawSmtp.Reply> SendAsync(int port, string subject)
    {
        await using var smtp = await RawSmtp.GreetedAsync(port);
        Assert.Equal(250, (await smtp.CommandAsync("EHLO client.test")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<alice@client.test>")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<user@mx.test>")).Code);
        Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
        await smtp.SendAsync($"Subject: {subject}\r\n\r\nbody\r\n.\r\n");
        return await smtp.ReadAsync(TimeSpan.FromSeconds(60));
    }

    private static byte[] Stuff(byte[] body) =>
        Encoding.ASCII.GetBytes(string.Join("\r\n", Encoding.ASCII.GetString(body).Split("\r\n").Select(l => l.StartsWith('.') ? "." + l : l)));

    /// <summary>Whether a new connection is greeted with a 220: not when it is refused, closed, or answered 421.</summary>
    private static async Task<bool> NewConnectionGreetedAsync(int port)
    {
        try
        {
            await using var smtp = await RawSmtp.ConnectAsync(port);
            return (await smtp.ReadAsync(TimeSpan.FromSeconds(5))).Code == 220;
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException)
        {
            return false; // refused, or closed without a greeting (EndOfStreamException is an IOException)
        }
    }

    [Fact]
    public async Task Sigterm_lets_a_transaction_finish_closes_idle_sessions_refuses_new_ones_and_leaves_the_cluster()
    {
        var dataDir = TempDir.Create("sigterm");
        string id;
        await using (var engine = await EngineProcess.StartAsync(dataDir, "engine.smtp.shutdown-grace = 20s"))
        {
            await using var busy = await RawSmtp.GreetedAsync(engine.Port);
            await using var idle = await RawSmtp.GreetedAsync(engine.Port);
            Assert.Equal(250, (await busy.CommandAsync("EHLO client.test")).Code);
            Assert.Equal(250, (await busy.CommandAsync("MAIL FROM:<a@client.test>")).Code);
            Assert.Equal(250, (await busy.CommandAsync("RCPT TO:<u@mx.test>")).Code);
            Assert.Equal(354, (await busy.CommandAsync("DATA")).Code);
            await busy.SendAsync("Subject: in flight\r\n\r\nfirst half\r\n");

            engine.Terminate();
            var idleReply = await idle.ReadAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(421, idleReply.Code);
            Assert.Equal("4.3.2", idleReply.Enhanced);
            Assert.False(await NewConnectionGreetedAsync(engine.Port)); // no longer accepting

            await busy.SendAsync("second half\r\n.\r\n");
            var done = await busy.ReadAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(250, done.Code);
            id = done.Last.Split(' ')[^1];
            Assert.Equal(421, (await busy.ReadAsync(TimeSpan.FromSeconds(10))).Code);
            Assert.Equal(0, await engine.WaitForExitAsync(TimeSpan.FromSeconds(40)));
            // Then it left its cluster, after the SMTP service had stopped: Leaving, then Exiting, before the exit.
            var output = engine.Output.ToList();
            var stopping = output.FindIndex(l => l.Contains("stopping: 2 sessions open", StringComparison.Ordinal));
            var leaving = output.FindIndex(l => l.Contains("as [Leaving]", StringComparison.Ordinal));
            var exited = output.FindIndex(l => l.Contains("Exiting completed", StringComparison.Ordinal));
            Assert.True(stopping >= 0 && leaving > stopping && exited > leaving, $"stopping at {stopping}, leaving at {leaving}, exited at {exited}");
        }

        await using var restarted = await EngineInstance.StartInAsync(dataDir);
        var message = await restarted.QueuedAsync(id);
        Assert.Equal("Subject: in flight\r\n\r\nfirst half\r\nsecond half\r\n", Encoding.ASCII.GetString(restarted.BodyAsSent(message)));
    }

    [Fact]
    public async Task Kill_9_during_delivery_leaves_every_message_in_its_maildir_exactly_once_and_at_the_sink_at_least_once()
    {
        const int count = 2000;
        const int users = 100;
        var dataDir = TempDir.Create("crash-delivery");
        var directory = Accounts.DirectoryOf(dataDir);
        directory.AddDomain("campus.test");
        directory.Batch(b =>
        {
            for (var u = 0; u < users; u++)
                b.AddUser($"u{u}@campus.test", "", "{LOCKED}", 0);
        });

        using var sink = await SmtpSink.StartAsync();
        var transport = $"engine.delivery.transport = {{ \"sink.test\" = \"smtp:[127.0.0.1]:{sink.Port}\" }}";
        var accepted = new System.Collections.Concurrent.ConcurrentDictionary<int, bool>();
        await using (var engine = await EngineProcess.StartAsync(dataDir, transport))
        {
            var work = Enumerable.Range(0, Sessions).Select(async s =>
            {
                try
                {
                    await using var smtp = await RawSmtp.GreetedAsync(engine.Port);
                    Assert.Equal(250, (await smtp.CommandAsync("EHLO client.test")).Code);
                    for (var i = s; i < count; i += Sessions)
                    {
                        await smtp.SendAsync($"MAIL FROM:<a@client.test>\r\nRCPT TO:<u{i % users}@campus.test>\r\nRCPT TO:<s{i}@sink.test>\r\nDATA\r\n");
                        Assert.Equal(250, (await smtp.ReadAsync()).Code);
                        Assert.Equal(250, (await smtp.ReadAsync()).Code);
                        Assert.Equal(250, (await smtp.ReadAsync()).Code);
                        Assert.Equal(354, (await smtp.ReadAsync()).Code);
                        await smtp.SendAsync($"Subject: {i}\r\nX-Seq: {i}\r\n\r\nbody {i}\r\n.\r\n");
                        if ((await smtp.ReadAsync()).Code == 250)
                            accepted[i] = true;
                    }
                }
                catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or EndOfStreamException)
                {
                    // the kill
                }
            }).ToArray();
            // Kill in the middle of the load of 2,000: sessions are sending, mailboxes writing. The sink is frozen
            // first, so that sends to it are surely under way (sent, not yet answered) when the engine dies.
            while (accepted.Count < count / 2)
                await Task.Delay(5, TestContext.Current.CancellationToken);
            sink.Freeze();
            await Task.Delay(300, TestContext.Current.CancellationToken);
            engine.Kill();
            sink.Thaw();
            await Task.Delay(1000, TestContext.Current.CancellationToken); // the sink takes in what was in its socket buffers
            await Task.WhenAll(work);
        }
        var before = CountDelivered(dataDir);
        var sinkBefore = sink.CountHeader("X-Seq");
        var atKill = JournalAtKill(dataDir);
        // Deliveries in flight at the kill: sent to the sink (its 250 perhaps not read) without their outcome journaled;
        // Maildir files written without their MessageAppended journaled, and local deliveries made without the queue's
        // record of them (each asked again after the restart, and found by its name, not written twice).
        var sinkInFlight = sinkBefore.Keys.Select(int.Parse).Where(i => !atKill.SinkDone.Contains(i)).ToHashSet();
        var filesUnjournaled = MaildirFiles(dataDir).Count(f => !atKill.Appended.Contains(Path.GetFileName(f)));
        var localUnrecorded = before.Keys.Count(i => !atKill.LocalDone.Contains(i));
        var tmpFiles = Directory.Exists(Path.Combine(dataDir, "mail"))
            ? Directory.EnumerateFiles(Path.Combine(dataDir, "mail"), "*", SearchOption.AllDirectories).Count(f => Path.GetFileName(Path.GetDirectoryName(f)) == "tmp")
            : 0;

        await using var restarted = await EngineInstance.StartInAsync(dataDir, transport);
        // The clients send again what the engine never took (no 250, and not in its journal: a 250 lost in the kill is
        // not sent twice), so that all 2,000 are delivered and counted.
        var resent = Enumerable.Range(0, count).Where(i => !accepted.ContainsKey(i) && !atKill.Queued.Contains(i)).ToArray();
        await Task.WhenAll(Enumerable.Range(0, Sessions).Select(async s =>
        {
            await using var smtp = await RawSmtp.GreetedAsync(restarted.Port);
            Assert.Equal(250, (await smtp.CommandAsync("EHLO client.test")).Code);
            foreach (var i in resent.Where((_, n) => n % Sessions == s))
            {
                Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<a@client.test>")).Code);
                Assert.Equal(250, (await smtp.CommandAsync($"RCPT TO:<u{i % users}@campus.test>")).Code);
                Assert.Equal(250, (await smtp.CommandAsync($"RCPT TO:<s{i}@sink.test>")).Code);
                Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
                Assert.Equal(250, (await smtp.CommandAsync($"Subject: {i}\r\nX-Seq: {i}\r\n\r\nbody {i}\r\n.")).Code);
            }
        }));
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while ((await restarted.QueueAsync()).Count > 0 && DateTime.UtcNow < deadline)
            await Task.Delay(200, TestContext.Current.CancellationToken);
        Assert.Empty(await restarted.QueueAsync());

        var seen = CountDelivered(dataDir);
        Assert.True(accepted.Keys.Count(k => sinkBefore.ContainsKey(k.ToString(CultureInfo.InvariantCulture))) < accepted.Count,
            "every accepted message reached the sink before the kill; the restart had nothing to do");
        // Every one of the 2,000 (accepted before the kill, in the journal without its 250 seen, or sent again) is in its
        // Maildir exactly once: none missing, no duplicates.
        Assert.Equal(count, seen.Count);
        Assert.All(Enumerable.Range(0, count), k => Assert.True(seen.GetValueOrDefault(k) == 1, $"message {k} is in its maildir {seen.GetValueOrDefault(k)} times"));

        // The sink: every accepted message at least once; twice only when it was being sent (or its 250 not yet
        // journaled) at the kill, which the engine's concurrency bounds.
        var atSink = sink.CountHeader("X-Seq");
        Assert.All(Enumerable.Range(0, count), k => Assert.True(atSink.GetValueOrDefault(k.ToString(CultureInfo.InvariantCulture)) >= 1, $"message {k} never reached the sink"));
        var twice = atSink.Where(s => s.Value > 1).Select(s => int.Parse(s.Key)).ToArray();
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"accepted {accepted.Count}, in the journal without a 250 {atKill.Queued.Count(i => !accepted.ContainsKey(i))}, sent again {resent.Length}; at the sink before the kill {sinkBefore.Count}, after {atSink.Count}; in flight to the sink at the kill " +
            $"{sinkInFlight.Count}; sent twice: {twice.Length} ({string.Join(' ', twice)}). Maildir at the kill: {before.Count} messages, " +
            $"{filesUnjournaled} files not journaled by their mailbox, {localUnrecorded} deliveries not recorded by the queue, {tmpFiles} files in tmp/");
        Assert.All(atSink, s => Assert.True(s.Value <= 2, $"message {s.Key} reached the sink {s.Value} times"));
        // The kill caught local deliveries in flight: files in tmp/, in new/ without their MessageAppended, or appended
        // without the queue's record. Each was asked again after the restart and is in its Maildir once (above).
        Assert.True(localUnrecorded + filesUnjournaled + tmpFiles > 0, "no local delivery was in flight at the kill: the restart did not test the mailbox's dedupe");
        // Twice only for what was in flight: at the sink before the restart, with no outcome journaled at the kill.
        Assert.All(twice, k => Assert.True(sinkInFlight.Contains(k), $"message {k} was sent twice, though not in flight at the kill"));
    }

    /// <summary>What the journal held when the engine was killed: the ids of messages whose sink and local recipients were done, and the Maildir files journaled.</summary>
    private sealed record KilledJournal(HashSet<int> Queued, HashSet<int> SinkDone, HashSet<int> LocalDone, HashSet<string> Appended);

    /// <summary>Reads the journal the killed engine left (as its restart will), by X-Seq: recipients s{i}@sink.test and u{i % users}@campus.test.</summary>
    private static KilledJournal JournalAtKill(string dataDir)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dataDir, "engine.db")}");
        connection.Open();
        using var query = connection.CreateCommand();
        query.CommandText = "SELECT manifest, CAST(message AS TEXT) FROM journal WHERE manifest IN ('qe.queued', 'qe.delivered', 'qe.removed', 'me.appended') ORDER BY ordering";
        var seqOf = new Dictionary<string, int>();
        var (sink, local, appended) = (new HashSet<int>(), new HashSet<int>(), new HashSet<string>());
        using var rows = query.ExecuteReader();
        while (rows.Read())
        {
            using var json = System.Text.Json.JsonDocument.Parse(rows.GetString(1));
            var e = json.RootElement;
            switch (rows.GetString(0))
            {
                case "qe.queued":
                    var to = e.GetProperty("Envelope").GetProperty("Recipients").EnumerateArray().Select(r => r.GetProperty("Address").GetString()!)
                        .First(a => a.EndsWith("@sink.test", StringComparison.Ordinal));
                    seqOf[e.GetProperty("Id").GetString()!] = int.Parse(to[1..to.IndexOf('@')], CultureInfo.InvariantCulture);
                    break;
                case "qe.delivered" when seqOf.TryGetValue(e.GetProperty("Id").GetString()!, out var i):
                    (e.GetProperty("Account").GetString()!.EndsWith("@sink.test", StringComparison.Ordinal) ? sink : local).Add(i);
                    break;
                case "qe.removed" when seqOf.TryGetValue(e.GetProperty("Id").GetString()!, out var i):
                    sink.Add(i);
                    local.Add(i);
                    break;
                case "me.appended":
                    appended.Add(e.GetProperty("FileName").GetString()!);
                    break;
            }
        }
        return new KilledJournal(seqOf.Values.ToHashSet(), sink, local, appended);
    }

    private static IEnumerable<string> MaildirFiles(string dataDir) =>
        Directory.Exists(Path.Combine(dataDir, "mail"))
            ? Directory.EnumerateFiles(Path.Combine(dataDir, "mail"), "*", SearchOption.AllDirectories)
                .Where(f => Path.GetFileName(Path.GetDirectoryName(f)) is "new" or "cur")
            : [];

    /// <summary>X-Seq of every file in every Maildir, counted.</summary>
    private static Dictionary<int, int> CountDelivered(string dataDir)
    {
        var seen = new Dictionary<int, int>();
        foreach (var file in MaildirFiles(dataDir))
        {
            var line = File.ReadLines(file).First(l => l.StartsWith("X-Seq: ", StringComparison.Ordinal));
            var seq = int.Parse(line["X-Seq: ".Length..]);
            seen[seq] = seen.GetValueOrDefault(seq) + 1;
        }
        return seen;
    }
}
