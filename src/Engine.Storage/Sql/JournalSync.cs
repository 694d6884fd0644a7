using Engine.Storage.Blobs;
using Microsoft.Data.Sqlite;

namespace Engine.Storage.Sql;

/// <summary>
/// Makes the journal's commits durable, many at a time. On SQLite the journal's connections commit with
/// synchronous=NORMAL: a commit is in the WAL file, in the kernel's cache, when it returns (safe from a crash of the
/// engine, not yet from one of the machine), and each <see cref="SyncAsync"/> fsyncs the WAL once for every commit made
/// before it, whichever queue partition or mailbox made it (group commit across the node's writers, where each commit
/// at synchronous=FULL paid an fsync of its own). The WAL keeps its order on disk (a frame after a lost one does not
/// count), so what survives a crash is always a prefix of the commits. On PostgreSQL every commit is durable when it
/// returns, and both calls are done at once.
/// </summary>
public sealed class JournalSync : IDisposable
{
    /// <summary>For a journal whose commits are durable when they return (PostgreSQL, a test's in-memory journal).</summary>
    public static readonly JournalSync Durable = new();

    private readonly GroupCommit? _commit;
    private readonly SqliteConnection? _keeper;
    private readonly Microsoft.Win32.SafeHandles.SafeFileHandle? _wal;

    private JournalSync()
    {
    }

    private JournalSync(string databasePath, string connectionString)
    {
        // SQLite deletes the WAL when its last connection closes (the pool closes idle ones): this connection, open for
        // the node's life, keeps the one file whose name was made durable below, so that an fsync of it is enough.
        _keeper = new SqliteConnection(new SqliteConnectionStringBuilder(connectionString) { Pooling = false }.ToString());
        _keeper.Open();
        using (var read = _keeper.CreateCommand())
        {
            read.CommandText = "SELECT count(*) FROM sqlite_master;"; // a read in WAL mode opens (or makes) the WAL
            read.ExecuteScalar();
        }
        var walPath = databasePath + "-wal";
        _wal = File.OpenHandle(walPath, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        DirectorySync.Fsync(Path.GetDirectoryName(walPath)!);
        _commit = new GroupCommit(() => RandomAccess.FlushToDisk(_wal), "Journal sync");
    }

    /// <summary>The journal's group commit for <paramref name="database"/>: an fsync of its WAL on SQLite, nothing on PostgreSQL.</summary>
    public static JournalSync For(EngineDatabase database) =>
        database.Provider == DatabaseProvider.Sqlite
            ? new JournalSync(new SqliteConnectionStringBuilder(database.ConnectionString).DataSource, database.ConnectionString)
            : Durable;

    /// <summary>How many fsyncs of the WAL have run.</summary>
    public long Syncs => _commit?.Flushes ?? 0;

    /// <summary>Completes when every commit the journal returned before this call is on disk.</summary>
    public Task SyncAsync() => _commit?.FlushAsync() ?? Task.CompletedTask;

    /// <summary>
    /// As <see cref="SyncAsync"/>, but without asking for an fsync: it comes with the next one someone asks for, or
    /// after <paramref name="within"/> at the latest. For work that must follow a commit onto the disk, not hurry it.
    /// </summary>
    public Task WhenSyncedAsync(TimeSpan within) => _commit?.WhenFlushedAsync(within) ?? Task.CompletedTask;

    /// <summary>At the node's end: one last fsync, so that what the journal wrote last (outcomes, removals) is on disk too.</summary>
    public void Dispose()
    {
        _commit?.Dispose();
        if (_wal is { IsClosed: false })
        {
            try
            {
                RandomAccess.FlushToDisk(_wal);
            }
            catch (IOException)
            {
                // nothing left to tell: the next start recovers from what is on disk
            }
        }
        _wal?.Dispose();
        _keeper?.Dispose();
    }
}
