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
}
