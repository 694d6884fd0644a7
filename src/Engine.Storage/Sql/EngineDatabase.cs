using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Engine.Storage.Sql;

/// <summary>Which database the engine keeps its journal, snapshots and directory in.</summary>
public enum DatabaseProvider
{
    /// <summary>One file in the data folder: the embedded default, a cluster of one.</summary>
    Sqlite,

    /// <summary>A server every node of a cluster reaches.</summary>
    PostgreSql,
}

/// <summary>
/// The engine's SQL database: SQLite (WAL, waiting on locks; synchronous=FULL but for the journal's own pool, see
/// <see cref="JournalConnectionString"/>) or PostgreSQL. Gives connections set
/// up the way every writer must use them, and says which failures are a broken constraint. The SQL the engine
/// writes by hand is the part both speak: named parameters (<c>@a</c>), <c>ON CONFLICT DO NOTHING</c>, BIGINT.
/// </summary>
public sealed record EngineDatabase(DatabaseProvider Provider, string ConnectionString)
{
    public DbConnection Open()
    {
        if (Provider == DatabaseProvider.PostgreSql)
        {
            var postgres = new NpgsqlConnection(ConnectionString);
            postgres.Open();
            return postgres;
        }
        var sqlite = new SqliteConnection(ConnectionString);
        sqlite.Open();
        Configure(sqlite);
        return sqlite;
    }

    /// <summary>
    /// Sets the pragmas every SQLite connection of the engine runs with: synchronous=FULL (a commit is on disk when
    /// it returns), a wait for another writer's lock, foreign keys. They belong to the connection underneath, which
    /// the pool hands out again and again: set once for each (a journal transaction parsed and ran them every time).
    /// </summary>
    public static void Configure(SqliteConnection connection) => Configure(connection, "FULL");

    /// <summary>
    /// The journal's connections (SQLite): a pool of their own (the connection string differs only by naming the default
    /// cache mode, and the pool goes by the string), whose commits run at synchronous=NORMAL: <see cref="JournalSync"/>
    /// makes them durable, many per fsync. Elsewhere (the directory) every commit stays durable by itself.
    /// </summary>
    public string JournalConnectionString => Provider == DatabaseProvider.Sqlite
        ? new SqliteConnectionStringBuilder(ConnectionString) { Cache = SqliteCacheMode.Default }.ToString()
        : ConnectionString;

    /// <summary>Sets the pragmas of a journal connection: as <see cref="Configure(SqliteConnection)"/>, at synchronous=NORMAL.</summary>
    public static void ConfigureJournal(SqliteConnection connection) => Configure(connection, "NORMAL");

    private static void Configure(SqliteConnection connection, string synchronous)
    {
        var handle = connection.Handle;
        if (handle is not null && Configured.TryGetValue(handle, out _))
            return;
        using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA synchronous={synchronous}; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;";
        command.ExecuteNonQuery();
        if (handle is not null)
            Configured.AddOrUpdate(handle, Configured);
    }

    // The SQLite connections (the pool's, underneath SqliteConnection) whose pragmas are set.
    private static readonly ConditionalWeakTable<SQLitePCL.sqlite3, object> Configured = new();

    /// <summary>A connection opened without blocking a thread where the driver can (PostgreSQL); SQLite's as <see cref="Open"/>.</summary>
    public async Task<DbConnection> OpenAsync(CancellationToken cancellationToken = default)
    {
        if (Provider != DatabaseProvider.PostgreSql)
            return Open(); // Open sets SQLite's pragmas
        var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        return connection;
    }

    /// <summary>A command with its values as the parameters @a, @b, ... (null as NULL), in <paramref name="transaction"/> when given.</summary>
    public static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql, params object?[] values)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        for (var i = 0; i < values.Length; i++)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = "@" + (char)('a' + i);
            parameter.Value = values[i] ?? DBNull.Value;
            command.Parameters.Add(parameter);
        }
        return command;
    }

    /// <summary>Whether <paramref name="e"/> is a unique or foreign-key constraint refusing a change, and which.</summary>
    public static bool IsConstraint(DbException e, out bool foreignKey)
    {
        switch (e)
        {
            case SqliteException { SqliteErrorCode: 19 } sqlite: // SQLITE_CONSTRAINT
                foreignKey = sqlite.Message.Contains("FOREIGN KEY", StringComparison.Ordinal);
                return true;
            case PostgresException { SqlState: PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.ForeignKeyViolation } postgres:
                foreignKey = postgres.SqlState == PostgresErrorCodes.ForeignKeyViolation;
                return true;
            default:
                foreignKey = false;
                return false;
        }
    }

    /// <summary>A database that answers nothing for a moment (busy, restarting, unreachable): a read can wait for the next period.</summary>
    public static bool IsTransient(Exception e) => e is DbException or InvalidOperationException or TimeoutException;
}
