using Engine.Storage.Sql;
using Microsoft.Data.Sqlite;

namespace Engine.Tests.Storage;

/// <summary>The pragmas every SQLite connection of the engine runs with, set once for each connection of the pool.</summary>
public sealed class EngineDatabaseSpecs : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("engine-db").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private static long Pragma(SqliteConnection connection, string name)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA " + name;
        return (long)command.ExecuteScalar()!;
    }

    [Fact]
    public void A_connection_from_the_pool_keeps_the_pragmas_set_when_it_was_first_opened()
    {
        var database = new EngineDatabase(DatabaseProvider.Sqlite,
            new SqliteConnectionStringBuilder { DataSource = Path.Combine(_dir, "engine.db"), Pooling = true }.ToString());
        for (var round = 0; round < 3; round++)
        {
            using var connection = (SqliteConnection)database.Open();
            Assert.Equal(2, Pragma(connection, "synchronous")); // FULL
            Assert.Equal(10000, Pragma(connection, "busy_timeout"));
            Assert.Equal(1, Pragma(connection, "foreign_keys"));
        }
    }

    [Fact]
    public void A_connection_opened_elsewhere_gets_the_pragmas_and_the_next_configure_leaves_them()
    {
        var path = Path.Combine(_dir, "other.db");
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = true }.ToString());
        connection.Open();
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "PRAGMA synchronous=OFF";
            command.ExecuteNonQuery();
        }
        Assert.Equal(0, Pragma(connection, "busy_timeout"));
        EngineDatabase.Configure(connection);
        Assert.Equal(2, Pragma(connection, "synchronous"));
        Assert.Equal(10000, Pragma(connection, "busy_timeout"));
        Assert.Equal(1, Pragma(connection, "foreign_keys"));
        // Set once: a later call does not run them again, so a change made since stays.
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "PRAGMA busy_timeout=5";
            command.ExecuteNonQuery();
        }
        EngineDatabase.Configure(connection);
        Assert.Equal(5, Pragma(connection, "busy_timeout"));
    }

    private static List<string> Indexes(SqliteConnection connection, string table)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = @t AND sql IS NOT NULL ORDER BY name";
        command.Parameters.AddWithValue("@t", table);
        using var reader = command.ExecuteReader();
        var names = new List<string>();
        while (reader.Read())
            names.Add(reader.GetString(0));
        return names;
    }

    [Fact]
    public void The_journal_keeps_only_the_index_its_queries_use_in_a_new_database_and_in_one_made_before()
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(_dir, "journal.db") }.ToString());
        connection.Open();
        SqliteJournalSchema.Ensure(connection);
        Assert.Equal(["journal_uq"], Indexes(connection, "journal"));
        Assert.Equal(["tags_persistence_id_sequence_nr_idx", "tags_tag_idx"], Indexes(connection, "tags"));

        // A database whose journal the plugin made, with its two other indexes: they go, the rows stay.
        using (var command = connection.CreateCommand())
        {
            command.CommandText = """
                CREATE INDEX journal_created_idx ON journal (created);
                CREATE INDEX journal_sequence_number_idx ON journal (sequence_number);
                INSERT INTO journal (created, deleted, persistence_id, sequence_number, message) VALUES (1, 0, 'p', 1, x'00');
                """;
            command.ExecuteNonQuery();
        }
        Assert.Equal(3, Indexes(connection, "journal").Count);
        SqliteJournalSchema.Ensure(connection);
        Assert.Equal(["journal_uq"], Indexes(connection, "journal"));
        using var count = connection.CreateCommand();
        count.CommandText = "SELECT count(*) FROM journal";
        Assert.Equal(1L, count.ExecuteScalar());
    }

    [Fact]
    public void Journal_rows_in_a_new_database_take_the_next_rowid_and_write_no_sqlite_sequence_page()
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(_dir, "rowid.db") }.ToString());
        connection.Open();
        SqliteJournalSchema.Ensure(connection);
        using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO journal (created, deleted, persistence_id, sequence_number, message) VALUES (1, 0, 'p', 1, x'00');
            INSERT INTO journal (created, deleted, persistence_id, sequence_number, message) VALUES (2, 0, 'q', 1, x'00');
            SELECT group_concat(ordering) FROM journal;
            """;
        Assert.Equal("1,2", command.ExecuteScalar());
        // AUTOINCREMENT would keep its counter in sqlite_sequence, a page more in every commit.
        command.CommandText = "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_sequence'";
        Assert.Equal(0L, command.ExecuteScalar());
    }

    [Fact]
    public void The_journal_has_a_pool_of_its_own_at_synchronous_normal_and_the_rest_stays_at_full()
    {
        var database = new EngineDatabase(DatabaseProvider.Sqlite,
            new SqliteConnectionStringBuilder { DataSource = Path.Combine(_dir, "engine.db"), Pooling = true }.ToString());
        Assert.NotEqual(database.ConnectionString, database.JournalConnectionString);
        Assert.Equal(Path.Combine(_dir, "engine.db"), new SqliteConnectionStringBuilder(database.JournalConnectionString).DataSource);
        for (var round = 0; round < 3; round++)
        {
            using (var journal = new SqliteConnection(database.JournalConnectionString))
            {
                journal.Open();
                EngineDatabase.ConfigureJournal(journal);
                Assert.Equal(1, Pragma(journal, "synchronous")); // NORMAL
                Assert.Equal(10000, Pragma(journal, "busy_timeout"));
            }
            using var other = (SqliteConnection)database.Open();
            Assert.Equal(2, Pragma(other, "synchronous")); // FULL: never a journal connection handed out again
        }
    }

    [Fact]
    public async Task The_journal_sync_keeps_the_WAL_open_when_the_pools_close_and_fsyncs_it_once_for_callers_together()
    {
        var path = Path.Combine(_dir, "engine.db");
        var database = new EngineDatabase(DatabaseProvider.Sqlite, new SqliteConnectionStringBuilder { DataSource = path, Pooling = true }.ToString());
        using (var setup = (SqliteConnection)database.Open())
        using (var command = setup.CreateCommand())
        {
            command.CommandText = "PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER);";
            command.ExecuteNonQuery();
        }
        using var sync = JournalSync.For(database);
        using (var journal = new SqliteConnection(database.JournalConnectionString))
        {
            journal.Open();
            EngineDatabase.ConfigureJournal(journal);
            using var insert = journal.CreateCommand();
            insert.CommandText = "INSERT INTO t VALUES (1);";
            insert.ExecuteNonQuery();
        }
        SqliteConnection.ClearAllPools(); // what the pool does to idle connections after a while
        Assert.True(File.Exists(path + "-wal"), "the WAL went with the pool's connections");
        Assert.True(new FileInfo(path + "-wal").Length > 0, "the commit is not in the WAL");

        await Task.WhenAll(sync.SyncAsync(), sync.SyncAsync(), sync.SyncAsync()).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.InRange(sync.Syncs, 1, 2); // the first runs at once; the two that asked meanwhile share the second
        Assert.Equal(0, JournalSync.Durable.Syncs);
        Assert.True(JournalSync.Durable.SyncAsync().IsCompletedSuccessfully);
    }
}
