using System.Globalization;
using System.Net;
using Akka.Actor;
using Engine.Integration.Tests.Support;
using Engine.Messages.Queue;
using Engine.Storage.Blobs;
using Microsoft.Extensions.DependencyInjection;

namespace Engine.Integration.Tests;

/// <summary>
/// The queue manager: deferred messages with their attempts and next attempt in the journal, delay warnings,
/// expiry, and the operators' hold, release and flush. Time runs through the configuration (seconds for
/// days), never by sleeping for the real backoff.
/// </summary>
public sealed class QueueManagerSpecs
{
    private static async Task<QueuedMessage> WaitForAsync(EngineInstance engine, string id, Func<QueuedMessage, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var message = await engine.QueuedAsync(id);
            if (condition(message) || DateTime.UtcNow > deadline)
                return message;
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    private static bool IsDeferredAttempt(string line, string id, string to) =>
        line.StartsWith($"{id}: to=<{to}>", StringComparison.Ordinal) && line.Contains("status=deferred", StringComparison.Ordinal);

    [Fact]
    public async Task A_message_past_its_lifetime_is_returned_to_the_sender_after_one_delay_warning()
    {
        var port = Loopback.FreePort(); // nothing listens: every attempt is deferred with 4.4.1
        var dataDir = Accounts.WithJane("expire");
        await using var engine = await EngineInstance.StartInAsync(dataDir,
            $"engine.delivery.transport = {{ \"later.test\" = \"smtp:[127.0.0.1]:{port}\" }}", "engine.queue.minimal-backoff = 1s",
            "engine.queue.maximal-backoff = 1s", "engine.queue.maximal-queue-lifetime = 5s", "engine.queue.delay-warning-time = 1s");

        string id;
        await using (var smtp = await RawSmtp.GreetedAsync(engine.Port))
        {
            await smtp.CommandAsync("EHLO campus.test");
            Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<jane@campus.test>")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<carol@later.test>")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<dave@later.test> NOTIFY=FAILURE")).Code); // no warning for him
            Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
            var reply = await smtp.CommandAsync("From: jane@campus.test\r\nSubject: plans\r\n\r\nsee you\r\n.");
            Assert.Equal(250, reply.Code);
            id = reply.Last.Split(' ')[^1];
        }

        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: sender delay notification: ", StringComparison.Ordinal));
        await engine.Logs.WaitForAsync(l => l == $"{id}: from=<jane@campus.test>, status=expired, returned to sender", TimeSpan.FromSeconds(20));
        await engine.Logs.WaitForAsync(l => l == $"{id}: removed");
        Assert.True(engine.Logs.Lines.Count(l => IsDeferredAttempt(l, id, "carol@later.test")) >= 3); // retried, about once a second

        var notices = (await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", 2)).Select(f => MimeKit.MimeMessage.Load(f)).ToArray();
        Assert.Equal(2, notices.Length);

        var warning = Assert.Single(notices, n => n.Subject == "Delayed Mail (still being retried)");
        var warned = Assert.Single(Assert.IsType<MimeKit.MultipartReport>(warning.Body).OfType<MimeKit.MessageDeliveryStatus>().Single()
            .StatusGroups, g => g.Contains("Final-Recipient"));
        Assert.Equal("rfc822; carol@later.test", warned["Final-Recipient"]);
        Assert.Equal("delayed", warned["Action"]);
        Assert.Equal("4.4.1", warned["Status"]);

        var bounce = Assert.Single(notices, n => n.Subject == "Undelivered Mail Returned to Sender");
        var report = Assert.IsType<MimeKit.MultipartReport>(bounce.Body);
        var failed = report.OfType<MimeKit.MessageDeliveryStatus>().Single().StatusGroups.Where(g => g.Contains("Final-Recipient")).ToArray();
        Assert.Equal(["rfc822; carol@later.test", "rfc822; dave@later.test"], failed.Select(g => g["Final-Recipient"]).Order());
        Assert.All(failed, g => Assert.Equal("failed", g["Action"]));
        Assert.All(failed, g => Assert.Equal("4.4.1", g["Status"]));
        Assert.Equal("plans", Assert.Single(report.OfType<MimeKit.MessagePart>()).Message?.Subject);
    }

    [Fact]
    public async Task A_message_being_delivered_is_shown_in_the_active_queue_then_leaves()
    {
        await using var slow = new ScriptedSmtpServer { DataDelay = TimeSpan.FromSeconds(3) };
        await using var engine = await EngineInstance.StartAsync($"engine.delivery.transport = {{ \"slow.test\" = \"smtp:[127.0.0.1]:{slow.Port}\" }}");
        var id = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "Subject: on its way\r\n\r\nslowly", "bob@slow.test");

        var active = await WaitForAsync(engine, id, m => m.State == QueueState.Active);
        Assert.Equal(QueueState.Active, active.State); // Postfix's active queue: a delivery under way (not journaled)
        Assert.True(active.Attempts == 0 && active.NextAttemptAt is null); // not deferred: on its first attempt
        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<bob@slow.test>", StringComparison.Ordinal) && l.Contains("status=sent", StringComparison.Ordinal));
        await engine.Logs.WaitForAsync(l => l == $"{id}: removed");
        Assert.Empty(await engine.QueueAsync());
    }

    [Fact]
    public async Task Mail_from_the_null_sender_expires_at_the_bounce_queue_lifetime_and_is_dropped_without_a_notice()
    {
        var port = Loopback.FreePort(); // nothing listens: every attempt is deferred with 4.4.1
        await using var engine = await EngineInstance.StartAsync($"engine.delivery.transport = {{ \"later.test\" = \"smtp:[127.0.0.1]:{port}\" }}",
            "engine.queue.minimal-backoff = 1s", "engine.queue.maximal-backoff = 1s", "engine.queue.maximal-queue-lifetime = 1h",
            "engine.queue.bounce-queue-lifetime = 3s");
        var bounce = await RawSmtp.SendMessageAsync(engine.Port, "", "Subject: a notice from elsewhere\r\n\r\nreturned", "carol@later.test");
        var normal = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "Subject: plans\r\n\r\nsee you", "dave@later.test");

        await engine.Logs.WaitForAsync(l => l == $"{bounce}: from=<>, status=expired, returned to sender", TimeSpan.FromSeconds(20));
        await engine.Logs.WaitForAsync(l => l == $"{bounce}: removed");
        Assert.True(engine.Logs.Lines.Count(l => IsDeferredAttempt(l, bounce, "carol@later.test")) >= 2); // retried until then
        Assert.DoesNotContain(engine.Logs.Lines, l => l.StartsWith($"{bounce}: sender non-delivery notification", StringComparison.Ordinal));
        // The other, from a sender, lives by maximal-queue-lifetime: still deferred, and tried again.
        var still = await WaitForAsync(engine, normal, m => m.State == QueueState.Deferred && m.Attempts >= 2); // between its attempts (1 s apart)
        Assert.Equal(QueueState.Deferred, still.State);
        Assert.True(still.Attempts >= 2);
    }

    [Fact]
    public async Task Deferred_state_survives_a_restart_and_operators_hold_release_and_flush()
    {
        var port = Loopback.FreePort();
        var dataDir = TempDir.Create("hold");
        string[] settings = [$"engine.delivery.transport = {{ \"later.test\" = \"smtp:[127.0.0.1]:{port}\" }}", "engine.queue.minimal-backoff = 1h",
            "engine.queue.maximal-backoff = 4h"];
        string id;
        QueuedMessage before;
        await using (var engine = await EngineInstance.StartInAsync(dataDir, settings))
        {
            id = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "From: alice@client.test\r\nSubject: plans\r\n\r\nsee you", "carol@later.test");
            await engine.Logs.WaitForAsync(l => IsDeferredAttempt(l, id, "carol@later.test"));
            before = await WaitForAsync(engine, id, m => m.State == QueueState.Deferred);
            Assert.Equal(QueueState.Deferred, before.State);
            Assert.Equal(1, before.Attempts);
            Assert.StartsWith("451 4.4.1 ", before.DeferralOf["carol@later.test"].Reply, StringComparison.Ordinal);
            Assert.InRange(before.NextAttemptAt!.Value - DateTimeOffset.UtcNow, TimeSpan.FromMinutes(59), TimeSpan.FromMinutes(61));
        }

        await using (var engine = await EngineInstance.StartInAsync(dataDir, settings))
        {
            var recovered = await engine.QueuedAsync(id);
            Assert.Equal(QueueState.Deferred, recovered.State);
            Assert.Equal(1, recovered.Attempts);
            Assert.Equal(before.NextAttemptAt, recovered.NextAttemptAt);
            await Task.Delay(1000, TestContext.Current.CancellationToken);
            Assert.DoesNotContain(engine.Logs.Lines, l => l.StartsWith($"{id}: to=", StringComparison.Ordinal)); // it waits for its time

            var partition = engine.PartitionOf(id);
            Assert.Equal(1, await engine.QueueCommandAsync(p => new QueueCommands.Hold(p, QueuedId(id), "looks like a spam run"), partition));
            Assert.Equal(QueueState.Hold, (await engine.QueuedAsync(id)).State);
            Assert.Equal(0, await engine.QueueCommandAsync(p => new QueueCommands.Flush(p))); // a held message is not flushed
            Assert.Equal(0, await engine.QueueCommandAsync(p => new QueueCommands.Hold(p, QueuedId(id), "again"), partition));

            Assert.Equal(1, await engine.QueueCommandAsync(p => new QueueCommands.Release(p, QueuedId(id)), partition));
            await engine.Logs.WaitForAsync(l => IsDeferredAttempt(l, id, "carol@later.test")); // released: tried at once
            var again = await WaitForAsync(engine, id, m => m.Attempts == 2 && m.State == QueueState.Deferred);
            Assert.Equal(2, again.Attempts);
            Assert.InRange(again.NextAttemptAt!.Value - DateTimeOffset.UtcNow, TimeSpan.FromMinutes(119), TimeSpan.FromMinutes(121));

            await using var later = await EngineInstance.StartAsync($"engine.smtp.listen = [\"127.0.0.1:{port}\"]",
                "engine.smtp.mydestination = [\"later.test\"]");
            Assert.Equal(1, await engine.QueueCommandAsync(p => new QueueCommands.Flush(p)));
            await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<carol@later.test>", StringComparison.Ordinal)
                                                && l.Contains("status=sent", StringComparison.Ordinal));
            await engine.Logs.WaitForAsync(l => l == $"{id}: removed");
            Assert.Single(await later.QueueAsync());
        }
    }

    [Fact]
    public async Task The_spool_sweep_deletes_a_body_no_queued_message_refers_to_and_keeps_those_queued()
    {
        var port = Loopback.FreePort();
        await using var engine = await EngineInstance.StartAsync($"engine.delivery.transport = {{ \"later.test\" = \"smtp:[127.0.0.1]:{port}\" }}",
            "engine.queue.minimal-backoff = 1h", "engine.queue.spool-sweep-interval = 1s", "engine.queue.spool-sweep-min-age = 3s");
        var id = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "From: alice@client.test\r\nSubject: kept\r\n\r\nstill queued", "carol@later.test");
        var deferred = await WaitForAsync(engine, id, m => m.State == QueueState.Deferred);
        Assert.Equal(QueueState.Deferred, deferred.State);
        // Once the queued message is older than the minimal age, every sweep asks about its body too.
        var old = Engine.Primitives.QueueId.Parse(id).Time + TimeSpan.FromSeconds(3.5);
        while (DateTimeOffset.UtcNow < old)
            await Task.Delay(100, TestContext.Current.CancellationToken);

        // A body committed and never queued, as a crash between the two leaves it.
        var blobs = engine.Services.GetRequiredService<IBlobStore>();
        var orphanId = Engine.Primitives.QueueId.New(DateTimeOffset.UtcNow.AddHours(-2));
        string orphan;
        await using (var writer = blobs.Create(orphanId))
        {
            await writer.WriteAsync("Subject: lost\r\n\r\nno entry\r\n"u8.ToArray(), TestContext.Current.CancellationToken);
            await writer.CommitAsync(TestContext.Current.CancellationToken);
            orphan = writer.Ref;
        }
        Assert.True(blobs.Exists(orphan));
        await engine.Logs.WaitForAsync(l => l == $"{orphanId.Value}: spool sweep: body {orphan} has no queue entry, deleted");
        Assert.False(blobs.Exists(orphan));

        // The sweep that took the orphan asked about the queued message's body as well, and kept it.
        Assert.True(blobs.Exists(deferred.BlobRef));
        Assert.DoesNotContain(engine.Logs.Lines, l => l.StartsWith($"{id}: spool sweep", StringComparison.Ordinal));
        var still = await engine.QueuedAsync(id);
        Assert.Equal(QueueState.Deferred, still.State);
    }

    [Fact]
    public async Task A_message_whose_body_is_gone_goes_to_the_corrupt_queue_and_the_queue_goes_on()
    {
        var port = Loopback.FreePort();
        await using var engine = await EngineInstance.StartAsync($"engine.delivery.transport = {{ \"later.test\" = \"smtp:[127.0.0.1]:{port}\" }}",
            "engine.queue.minimal-backoff = 1h");
        var id = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "From: alice@client.test\r\nSubject: plans\r\n\r\nsee you", "carol@later.test");
        var deferred = await WaitForAsync(engine, id, m => m.State == QueueState.Deferred);
        engine.Services.GetRequiredService<IBlobStore>().Delete(deferred.BlobRef);

        await engine.QueueCommandAsync(p => new QueueCommands.Flush(p));
        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: corrupt, moved to the corrupt queue: ", StringComparison.Ordinal));
        var corrupt = await WaitForAsync(engine, id, m => m.State == QueueState.Corrupt);
        Assert.Equal(QueueState.Corrupt, corrupt.State);
        Assert.Contains("missing", corrupt.Reason, StringComparison.Ordinal);

        // The same partition, and the node, go on: another message is queued and tried.
        var next = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "From: alice@client.test\r\nSubject: plans\r\n\r\nsee you", "dan@later.test");
        await engine.Logs.WaitForAsync(l => IsDeferredAttempt(l, next, "dan@later.test"));
        await WaitForAsync(engine, next, m => m.State == QueueState.Deferred); // journaled after the log line
        Assert.Equal(1, await engine.QueueCommandAsync(p => new QueueCommands.Flush(p))); // the deferred one; never the corrupt one
        Assert.Equal(QueueState.Corrupt, (await engine.QueuedAsync(id)).State);
    }

    [Fact]
    public async Task A_partition_recovers_its_deferred_messages_from_snapshot_and_journal_and_tries_each_again_when_due()
    {
        const int count = 120;
        var dataDir = TempDir.Create("recovery");
        var port = Loopback.FreePort();
        string[] settings = [$"engine.delivery.transport = {{ \"later.test\" = \"smtp:[127.0.0.1]:{port}\" }}", "engine.queue.partitions = 1",
            "engine.queue.minimal-backoff = 15s", "engine.queue.maximal-backoff = 15s", "engine.queue.snapshot-every = 50"];
        Dictionary<string, DateTimeOffset> due;
        await using (var engine = await EngineInstance.StartInAsync(dataDir, settings))
        {
            for (var i = 0; i < count; i++)
                await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", $"Subject: {i}\r\n\r\nbody {i}", $"r{i}@later.test");
            var deadline = DateTime.UtcNow.AddSeconds(30);
            IReadOnlyList<QueuedMessage> queued;
            while ((queued = await engine.QueueAsync()).Count(m => m.State == QueueState.Deferred) < count && DateTime.UtcNow < deadline)
                await Task.Delay(100, TestContext.Current.CancellationToken);
            Assert.Equal(count, queued.Count(m => m.State == QueueState.Deferred));
            due = queued.ToDictionary(m => m.Id.Value, m => m.NextAttemptAt!.Value);
        }
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dataDir, "engine.db")};Mode=ReadOnly"))
        {
            connection.Open();
            using var snapshots = connection.CreateCommand();
            snapshots.CommandText = "SELECT count(*) FROM snapshot WHERE persistence_id = 'queue-partition-0'";
            Assert.True(Convert.ToInt32(snapshots.ExecuteScalar(), CultureInfo.InvariantCulture) > 0, "no snapshot: recovery would read the journal alone");
        }

        await using var restarted = await EngineInstance.StartInAsync(dataDir, settings);
        var recovered = await restarted.QueueAsync();
        Assert.Equal(due.Keys.Order(), recovered.Select(m => m.Id.Value).Order());
        Assert.All(recovered, m => Assert.Equal((QueueState.Deferred, due[m.Id.Value]), (m.State, m.NextAttemptAt!.Value)));
        // The timers are set again from the journaled times: no attempt before its time, and each one comes.
        var first = due.Values.Min();
        var retried = new HashSet<string>();
        var end = due.Values.Max().AddSeconds(15);
        while (retried.Count < count && DateTimeOffset.UtcNow < end)
        {
            foreach (var line in restarted.Logs.Lines.Where(l => l.Contains("status=deferred", StringComparison.Ordinal)))
            {
                var id = line.Split(':')[0];
                if (retried.Add(id))
                    Assert.True(DateTimeOffset.UtcNow >= due[id].AddMilliseconds(-100), $"{id} was tried {(due[id] - DateTimeOffset.UtcNow).TotalSeconds:0.0} s early");
            }
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
        Assert.Equal(count, retried.Count);
        Assert.True(DateTimeOffset.UtcNow >= first);
    }

    [Fact]
    public async Task A_damaged_journal_record_and_a_body_cut_short_go_to_the_corrupt_queue_and_the_partition_recovers_the_rest()
    {
        var dataDir = TempDir.Create("corrupt-records");
        var port = Loopback.FreePort();
        string[] settings = [$"engine.delivery.transport = {{ \"later.test\" = \"smtp:[127.0.0.1]:{port}\" }}", "engine.queue.partitions = 1",
            "engine.queue.minimal-backoff = 1s", "engine.queue.maximal-backoff = 1s"];
        string damaged, healthy, cut;
        string damagedBody, cutBody;
        await using (var engine = await EngineInstance.StartInAsync(dataDir, settings))
        {
            damaged = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "Subject: one\r\n\r\nfirst", "a@later.test");
            healthy = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "Subject: two\r\n\r\nsecond", "b@later.test");
            cut = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "Subject: three\r\n\r\n" + string.Join("\r\n", Enumerable.Repeat(new string('x', 78), 50)), "c@later.test");
            damagedBody = (await WaitForAsync(engine, damaged, m => m.State == QueueState.Deferred)).BlobRef;
            await WaitForAsync(engine, healthy, m => m.State == QueueState.Deferred);
            cutBody = (await WaitForAsync(engine, cut, m => m.State == QueueState.Deferred)).BlobRef;
            // A requeue journaled after the record that will be damaged: the stand-in must not take it as its own state.
            Assert.Equal(1, await engine.QueueCommandAsync(p => new QueueCommands.Requeue(p, Engine.Primitives.QueueId.Parse(damaged))));
            await engine.Logs.WaitForAsync(l => l == $"{damaged}: requeued");
        }

        // The first message's qe.queued row no longer decodes; the third's body, the last record of its spool segment,
        // loses its second half (a disk that lost writes).
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dataDir, "engine.db")}"))
        {
            connection.Open();
            using var update = connection.CreateCommand();
            update.CommandText = "UPDATE journal SET message = CAST(replace(CAST(message AS TEXT), '\"Recipients\":[', '\"Recipients\":[[[') AS BLOB) "
                                 + "WHERE manifest = 'qe.queued' AND instr(CAST(message AS TEXT), $id) > 0";
            update.Parameters.AddWithValue("$id", damaged);
            Assert.Equal(1, update.ExecuteNonQuery());
        }
        Assert.StartsWith("seg/", cutBody, StringComparison.Ordinal);
        var parts = cutBody.Split('/');
        var segment = Assert.Single(Directory.GetFiles(Path.Combine(dataDir, "spool"), parts[1], SearchOption.AllDirectories));
        var end = long.Parse(parts[2], CultureInfo.InvariantCulture) + 24 + int.Parse(parts[3], CultureInfo.InvariantCulture);
        Assert.True(new FileInfo(segment).Length >= end);
        using (var file = File.OpenHandle(segment, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
            RandomAccess.SetLength(file, end - 2000);

        await using var restarted = await EngineInstance.StartInAsync(dataDir, settings);
        var first = await WaitForAsync(restarted, damaged, m => m.State == QueueState.Corrupt);
        Assert.Contains("journal record cannot be read", first.Reason, StringComparison.Ordinal);
        Assert.Equal(damagedBody, first.BlobRef);
        Assert.True(restarted.Services.GetRequiredService<IBlobStore>().Exists(damagedBody)); // kept for the operator
        var third = await WaitForAsync(restarted, cut, m => m.State == QueueState.Corrupt);
        Assert.Contains("cut short", third.Reason, StringComparison.Ordinal);
        await restarted.Logs.WaitForAsync(l => l.StartsWith($"{cut}: corrupt, moved to the corrupt queue: body {cutBody} is cut short", StringComparison.Ordinal));

        // The partition recovered everything else: the healthy message is tried again, and new mail is queued.
        await restarted.Logs.WaitForAsync(l => IsDeferredAttempt(l, healthy, "b@later.test"));
        var next = await RawSmtp.SendMessageAsync(restarted.Port, "alice@client.test", "Subject: four\r\n\r\nfourth", "d@later.test");
        await restarted.Logs.WaitForAsync(l => IsDeferredAttempt(l, next, "d@later.test"));
        Assert.Equal(QueueState.Deferred, (await WaitForAsync(restarted, healthy, m => m.State == QueueState.Deferred)).State); // between attempts
        // Requeued, the stand-in would count as delivered and go: refused. Deleted, it goes with its body.
        Assert.Equal(0, await restarted.QueueCommandAsync(p => new QueueCommands.Requeue(p, Engine.Primitives.QueueId.Parse(damaged)), restarted.PartitionOf(damaged)));
        Assert.Equal(1, await restarted.QueueCommandAsync(p => new QueueCommands.Delete(p, Engine.Primitives.QueueId.Parse(damaged)), restarted.PartitionOf(damaged)));
        await restarted.Logs.WaitForAsync(l => l == $"{damaged}: removed");
    }

    [Fact]
    public async Task A_send_with_no_answer_in_time_is_deferred_and_a_live_destination_does_not_send_it_twice()
    {
        // The receiver takes the message and never answers the end of DATA: the send hangs.
        await using var silent = new ScriptedSmtpServer { DataDelay = TimeSpan.FromHours(1) };
        await using var engine = await EngineInstance.StartAsync($"engine.delivery.transport = {{ \"slow.test\" = \"smtp:[127.0.0.1]:{silent.Port}\" }}",
            "engine.queue.delivery-answer-timeout = 2s", "engine.queue.minimal-backoff = 1s", "engine.queue.maximal-backoff = 1s");
        var id = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "From: alice@client.test\r\nSubject: plans\r\n\r\nsee you", "carol@slow.test");

        // The partition gives up waiting and defers (so a destination on a node that died would not strand it)...
        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<carol@slow.test>, relay=none", StringComparison.Ordinal)
                                            && l.Contains("dsn=4.4.2, status=deferred (451 4.4.2 no answer from the delivery agent", StringComparison.Ordinal));
        var deferred = await WaitForAsync(engine, id, m => m.State == QueueState.Deferred);
        Assert.StartsWith("451 4.4.2", deferred.DeferralOf["carol@slow.test"].Reply, StringComparison.Ordinal);
        // ... and asks again after its backoff, but the live destination still has it under way: one session only.
        Assert.Equal(2, (await WaitForAsync(engine, id, m => m.Attempts >= 2)).Attempts);
        Assert.Equal(1, silent.Connections);
        Assert.Empty(silent.Messages);
    }

    [Fact]
    public async Task Mail_for_a_local_address_without_a_mailbox_is_deferred_and_returned_when_it_expires()
    {
        await using var engine = await EngineInstance.StartAsync("engine.queue.minimal-backoff = 1s", "engine.queue.maximal-backoff = 1s",
            "engine.queue.maximal-queue-lifetime = 3s");
        var id = await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "From: alice@client.test\r\nSubject: plans\r\n\r\nsee you", "nobody@mx.test"); // mydestination, not in the directory
        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id}: to=<nobody@mx.test>, relay=local, delay=", StringComparison.Ordinal) && l.Contains("dsn=4.3.0, status=deferred (no mailbox",
            StringComparison.Ordinal));
        await engine.Logs.WaitForAsync(l => l == $"{id}: from=<alice@client.test>, status=expired, returned to sender", TimeSpan.FromSeconds(20));
        await engine.Logs.WaitForAsync(l => l == $"{id}: removed");
    }

    private static Engine.Primitives.QueueId QueuedId(string id) => Engine.Primitives.QueueId.Parse(id);

    [Fact]
    public async Task An_enqueue_asked_again_while_it_is_written_or_after_it_was_delivered_is_written_once_and_answered_to_all()
    {
        await using var engine = await EngineInstance.StartInAsync(Accounts.WithJane("enqueue-again"));
        var blobs = engine.Services.GetRequiredService<IBlobStore>();
        var id = Engine.Primitives.QueueId.New();
        string blobRef;
        await using (var writer = blobs.Create(id))
        {
            await writer.WriteAsync("Subject: asked twice\r\n\r\nonce\r\n"u8.ToArray());
            await writer.CommitAsync();
            blobRef = writer.Ref;
        }
        var envelope = new Engine.Messages.Envelope("alice@client.test", [new Engine.Messages.EnvelopeRecipient("jane@campus.test", Engine.Primitives.DsnNotify.Unspecified)],
            Engine.Primitives.BodyType.SevenBit, false, Engine.Primitives.DsnReturn.Unspecified, null,
            new Engine.Messages.ClientInfo("127.0.0.1", "localhost", "client.test", "ESMTP"), DateTimeOffset.UtcNow, 30);
        var region = await engine.Services.GetRequiredService<Akka.Hosting.IRequiredActor<QueueRegionKey>>().GetAsync(TestContext.Current.CancellationToken);
        var enqueue = new QueueCommands.Enqueue(id.Partition(16), id, envelope, blobRef);
        // Three askers at once (as a session whose first request seemed lost, and its repeats).
        var answers = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => region.Ask<QueueReplies.Queued>(enqueue, TimeSpan.FromSeconds(10))));
        Assert.All(answers, a => Assert.Equal(id, a.Id));
        await engine.Logs.WaitForAsync(l => l.StartsWith($"{id.Value}: to=<jane@campus.test>", StringComparison.Ordinal) && l.Contains("status=sent"));

        // A repeat that comes after the message was delivered and removed (its body too), as when the first answer was
        // lost with a node that left: answered Queued, as it was, and nothing is written again.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await engine.QueueAsync()).Any(m => m.Id == id) && DateTime.UtcNow < deadline)
            await Task.Delay(100, TestContext.Current.CancellationToken);
        var late = await region.Ask<QueueReplies.Queued>(enqueue, TimeSpan.FromSeconds(10));
        Assert.Equal(id, late.Id);
        await Task.Delay(500, TestContext.Current.CancellationToken);
        Assert.DoesNotContain(await engine.QueueAsync(), m => m.Id == id);
        Assert.Single(engine.Logs.Lines, l => l.StartsWith($"{id.Value}: to=<jane@campus.test>", StringComparison.Ordinal));
        Assert.Single(await Accounts.WaitForNewAsync(engine.DataDir, "jane@campus.test", 1));
    }

    [Fact]
    public async Task An_enqueue_with_the_id_of_a_queued_message_but_another_body_is_refused_not_taken_for_a_repeat()
    {
        await using var engine = await EngineInstance.StartInAsync(Accounts.WithJane("enqueue-collision"));
        var blobs = engine.Services.GetRequiredService<IBlobStore>();
        var id = Engine.Primitives.QueueId.New();
        async Task<string> BodyAsync(string text)
        {
            await using var writer = blobs.Create(id);
            await writer.WriteAsync(System.Text.Encoding.ASCII.GetBytes(text));
            await writer.CommitAsync();
            return writer.Ref;
        }
        var first = await BodyAsync("Subject: first\r\n\r\nfirst\r\n");
        var second = await BodyAsync("Subject: second\r\n\r\nanother message that drew the same id\r\n");
        Assert.NotEqual(first, second);
        var envelope = new Engine.Messages.Envelope("alice@client.test", [new Engine.Messages.EnvelopeRecipient("jane@campus.test", Engine.Primitives.DsnNotify.Unspecified)],
            Engine.Primitives.BodyType.SevenBit, false, Engine.Primitives.DsnReturn.Unspecified, null,
            new Engine.Messages.ClientInfo("127.0.0.1", "localhost", "client.test", "ESMTP"), DateTimeOffset.UtcNow, 30);
        var region = await engine.Services.GetRequiredService<Akka.Hosting.IRequiredActor<QueueRegionKey>>().GetAsync(TestContext.Current.CancellationToken);
        // Held, so that it stays in the queue while the second comes.
        var queued = await region.Ask<QueueReplies.Queued>(new QueueCommands.Enqueue(id.Partition(16), id, envelope, first, "test"), TimeSpan.FromSeconds(10));
        Assert.Equal(id, queued.Id);

        var refused = await region.Ask<QueueReplies.NotQueued>(new QueueCommands.Enqueue(id.Partition(16), id, envelope, second), TimeSpan.FromSeconds(10));
        Assert.Contains("in use by another message", refused.Reason, StringComparison.Ordinal);
        // A true repeat (the same body) is still answered as the first time.
        Assert.Equal(id, (await region.Ask<QueueReplies.Queued>(new QueueCommands.Enqueue(id.Partition(16), id, envelope, first, "test"), TimeSpan.FromSeconds(10))).Id);
        var message = Assert.Single(await engine.QueueAsync(), m => m.Id == id);
        Assert.Equal(first, message.BlobRef);
        Assert.Equal(QueueState.Hold, message.State);

        // Once the first has left the queue (deleted here), the partition still tells its repeats from another message.
        Assert.Equal(1, (await region.Ask<QueueReplies.Changed>(new QueueCommands.Delete(id.Partition(16), id), TimeSpan.FromSeconds(10))).Count);
        Assert.DoesNotContain(await engine.QueueAsync(), m => m.Id == id);
        refused = await region.Ask<QueueReplies.NotQueued>(new QueueCommands.Enqueue(id.Partition(16), id, envelope, second), TimeSpan.FromSeconds(10));
        Assert.Contains("in use by another message", refused.Reason, StringComparison.Ordinal);
        Assert.Equal(id, (await region.Ask<QueueReplies.Queued>(new QueueCommands.Enqueue(id.Partition(16), id, envelope, first, "test"), TimeSpan.FromSeconds(10))).Id);
        Assert.DoesNotContain(await engine.QueueAsync(), m => m.Id == id);
    }
}
