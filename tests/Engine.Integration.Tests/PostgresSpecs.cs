using Engine.Host;
using Engine.Integration.Tests.Support;
using Engine.Messages.Queue;
using Npgsql;

namespace Engine.Integration.Tests;

/// <summary>The engine on PostgreSQL (engine.persistence.provider = postgresql): journal, snapshots and directory in the server.</summary>
public sealed class PostgresSpecs
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Journal_and_directory_live_in_PostgreSQL_and_mail_and_deferred_mail_survive_a_restart()
    {
        var connectionString = await PostgresServer.CreateDatabaseAsync();
        string[] settings = ["engine.persistence.provider = postgresql", $"engine.persistence.postgresql.connection-string = \"{connectionString}\"",
            "engine.queue.minimal-backoff = 1h", "engine.delivery.transport = { \"closed.test\" = \"smtp:[127.0.0.1]:9\" }"];
        var dataDir = TempDir.Create("postgres");
        var directory = EngineHost.OpenDirectory(EngineConfig.Load(null, [$"engine.data-dir = \"{dataDir}\"", .. settings]));
        directory.AddDomain("campus.test");
        directory.AddUser("jane@campus.test", "Jane", "{LOCKED}", 0);

        string deferred;
        await using (var engine = await EngineInstance.StartInAsync(dataDir, settings))
        {
            await Accounts.DeliverAsync(engine, "Subject: kept in postgres\r\n\r\nhello");
            deferred = await RawSmtp.SendMessageAsync(engine.Port, "jane@campus.test", "Subject: later\r\n\r\nx", "someone@closed.test");
            await engine.Logs.WaitForAsync(l => l.StartsWith($"{deferred}: to=<someone@closed.test>", StringComparison.Ordinal) && l.Contains("status=deferred"));
            var users = await Enginectl.JsonAsync(engine, "user", "list", "campus.test");
            Assert.Equal("jane@campus.test", Assert.Single(users.EnumerateArray()).GetProperty("address").GetString());
        }
        Assert.Single(await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", 1));
        Assert.False(File.Exists(Path.Combine(dataDir, "engine.db")), "an SQLite database was made although PostgreSQL was configured");

        // The journal's rows are in PostgreSQL.
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync(Ct);
            await using var count = new NpgsqlCommand("SELECT count(*) FROM journal", connection);
            Assert.True((long)(await count.ExecuteScalarAsync(Ct))! > 0);
        }

        // After a restart the deferred message is still queued with its attempt, and the directory still answers at RCPT.
        await using (var engine = await EngineInstance.StartInAsync(dataDir, settings))
        {
            var message = await engine.QueuedAsync(deferred);
            Assert.Equal((QueueState.Deferred, 1), (message.State, message.Attempts));
            await using var smtp = await RawSmtp.GreetedAsync(engine.Port);
            await smtp.CommandAsync("EHLO client.test");
            await smtp.CommandAsync("MAIL FROM:<a@client.test>");
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<jane@campus.test>")).Code);
            Assert.StartsWith("550 5.1.1", (await smtp.CommandAsync("RCPT TO:<nobody@campus.test>")).Last, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task With_blob_store_database_bodies_live_in_PostgreSQL_in_chunks_and_the_spool_folder_stays_empty()
    {
        var connectionString = await PostgresServer.CreateDatabaseAsync();
        string[] settings = ["engine.persistence.provider = postgresql", $"engine.persistence.postgresql.connection-string = \"{connectionString}\"",
            "engine.storage.blob-store = database", "engine.queue.minimal-backoff = 1h",
            "engine.delivery.transport = { \"closed.test\" = \"smtp:[127.0.0.1]:9\" }"];
        var dataDir = TempDir.Create("postgres-blobs");
        var directory = EngineHost.OpenDirectory(EngineConfig.Load(null, [$"engine.data-dir = \"{dataDir}\"", .. settings]));
        directory.AddDomain("campus.test");
        directory.AddUser("jane@campus.test", "Jane", "{LOCKED}", 0);
        // About 700 KB of body: three chunks.
        var lines = string.Join("\r\n", Enumerable.Range(0, 9000).Select(i => $"line {i:D6} of a long message, to span several chunks of the store"));
        var body = "Subject: large\r\n\r\n" + lines;

        async Task<long> RowsAsync(string? queueId)
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync(Ct);
            await using var count = new NpgsqlCommand("SELECT count(*) FROM message_bodies" + (queueId is null ? "" : " WHERE ref = @r"), connection);
            count.Parameters.AddWithValue("r", queueId ?? "");
            return (long)(await count.ExecuteScalarAsync(Ct))!;
        }

        string deferred;
        await using (var engine = await EngineInstance.StartInAsync(dataDir, settings))
        {
            var delivered = await Accounts.DeliverAsync(engine, body);
            deferred = await RawSmtp.SendMessageAsync(engine.Port, "jane@campus.test", body, "someone@closed.test");
            await engine.Logs.WaitForAsync(l => l.StartsWith($"{deferred}: to=<someone@closed.test>", StringComparison.Ordinal) && l.Contains("status=deferred"));
            Assert.Equal(3, await RowsAsync(deferred));
            // A delivered message's body is removed from the store once every recipient is done.
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (await RowsAsync(delivered) > 0 && DateTime.UtcNow < deadline)
                await Task.Delay(100, Ct);
            Assert.Equal(0, await RowsAsync(delivered));
        }
        var inbox = Assert.Single(await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", 1));
        Assert.EndsWith(lines + "\r\n", await File.ReadAllTextAsync(inbox, Ct), StringComparison.Ordinal);
        var spool = Path.Combine(dataDir, "spool");
        Assert.True(!Directory.Exists(spool) || Directory.GetFiles(spool, "*", SearchOption.AllDirectories).Length == 0, "a body was written to the spool folder");

        // After a restart the deferred message is still queued with its body (not moved to corrupt).
        await using (var engine = await EngineInstance.StartInAsync(dataDir, settings))
        {
            var message = await engine.QueuedAsync(deferred);
            Assert.Equal((QueueState.Deferred, 1), (message.State, message.Attempts));
        }
    }

    [Fact]
    public void Blob_store_database_is_refused_on_SQLite()
    {
        var e = Assert.Throws<Akka.Configuration.ConfigurationException>(() => EngineHost.Build(EngineConfig.Load(null,
            [$"engine.data-dir = \"{TempDir.Create("blobs-sqlite")}\"", "engine.storage.blob-store = database"])));
        Assert.Contains("needs engine.persistence.provider = postgresql", e.Message, StringComparison.Ordinal);
    }
}
