using Engine.Primitives;
using Engine.Storage.Blobs;
using Engine.Storage.Sql;
using Microsoft.Data.Sqlite;

namespace Engine.Tests.Storage;

/// <summary>The spool in the database, here on SQLite (the same SQL runs on PostgreSQL in PostgresSpecs).</summary>
public sealed class SqlBlobStoreSpecs : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("blobs").FullName;
    private readonly EngineDatabase _database;
    private readonly SqlBlobStore _store;

    public SqlBlobStoreSpecs()
    {
        _database = new EngineDatabase(DatabaseProvider.Sqlite, new SqliteConnectionStringBuilder { DataSource = Path.Combine(_dir, "engine.db") }.ToString());
        _store = new SqlBlobStore(_database);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private static byte[] Body(int size)
    {
        var bytes = new byte[size];
        new Random(size).NextBytes(bytes);
        return bytes;
    }

    private async Task<string> CommitAsync(byte[] body, int piece)
    {
        await using var writer = _store.Create(QueueId.New());
        for (var at = 0; at < body.Length; at += piece)
            await writer.WriteAsync(body.AsMemory(at, Math.Min(piece, body.Length - at)));
        await writer.CommitAsync();
        return writer.Ref;
    }

    private long Rows(string blobRef)
    {
        using var connection = _database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT count(*) FROM message_bodies WHERE ref = '{blobRef}'";
        return (long)command.ExecuteScalar()!;
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(1000, 7)]
    [InlineData(SqlBlobStore.ChunkSize, 65536)]
    [InlineData(2 * SqlBlobStore.ChunkSize, 100_000)]
    [InlineData(2 * SqlBlobStore.ChunkSize + 17, 1_000_000)]
    public async Task A_body_comes_back_byte_for_byte_in_chunks_whatever_the_writes_and_reads(int size, int piece)
    {
        var body = Body(size);
        var blobRef = await CommitAsync(body, piece);
        Assert.True(_store.Exists(blobRef));
        Assert.Equal(Math.Max(1, (size + SqlBlobStore.ChunkSize - 1) / SqlBlobStore.ChunkSize), Rows(blobRef));

        using (var sync = _store.OpenRead(blobRef))
        {
            Assert.Equal(size, sync.Length);
            var read = new MemoryStream();
            var buffer = new byte[4093];
            for (int n; (n = sync.Read(buffer, 0, buffer.Length)) > 0;)
                read.Write(buffer, 0, n);
            Assert.Equal(body, read.ToArray());
        }
        await using (var async = _store.OpenRead(blobRef))
        {
            var read = new MemoryStream();
            await async.CopyToAsync(read);
            Assert.Equal(body, read.ToArray());
        }

        _store.Delete(blobRef);
        Assert.False(_store.Exists(blobRef));
        Assert.Equal(0, Rows(blobRef));
        Assert.Throws<FileNotFoundException>(() => _store.OpenRead(blobRef));
    }

    [Fact]
    public async Task A_body_is_there_for_readers_only_once_committed_and_an_abort_leaves_no_row()
    {
        var writer = _store.Create(QueueId.New());
        await writer.WriteAsync(Body(SqlBlobStore.ChunkSize + 10)); // one chunk written in the open transaction
        Assert.False(_store.Exists(writer.Ref));
        writer.Abort();
        writer.Abort(); // twice is harmless
        Assert.Equal(0, Rows(writer.Ref));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await writer.WriteAsync(new byte[1]));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => writer.CommitAsync());

        // The store goes on: another body commits after the aborted one released the database.
        var other = await CommitAsync(Body(10), 10);
        Assert.True(_store.Exists(other));
    }

    [Fact]
    public async Task Abort_after_commit_keeps_the_body()
    {
        var writer = _store.Create(QueueId.New());
        await writer.WriteAsync(Body(100));
        await writer.CommitAsync();
        writer.Abort();
        await writer.DisposeAsync();
        Assert.True(_store.Exists(writer.Ref));
    }

    [Fact]
    public async Task A_body_deleted_while_it_is_read_is_an_error_not_a_shorter_body()
    {
        var blobRef = await CommitAsync(Body(3 * SqlBlobStore.ChunkSize), 100_000);
        using var stream = _store.OpenRead(blobRef);
        var buffer = new byte[SqlBlobStore.ChunkSize];
        Assert.Equal(SqlBlobStore.ChunkSize, stream.ReadAtLeast(buffer, buffer.Length));
        _store.Delete(blobRef);
        Assert.Throws<IOException>(() => stream.ReadAtLeast(buffer, buffer.Length));
    }

    [Fact]
    public async Task An_abort_after_chunks_were_written_removes_them()
    {
        var writer = _store.Create(QueueId.New());
        await writer.WriteAsync(Body(3 * SqlBlobStore.ChunkSize + 5));
        Assert.Equal(2, Rows(writer.Ref)); // chunks 1 and 2; chunk 0, the commit, waits in memory
        Assert.False(_store.Exists(writer.Ref));
        writer.Abort();
        for (var i = 0; i < 100 && Rows(writer.Ref) > 0; i++)
            await Task.Delay(50, TestContext.Current.CancellationToken); // the delete runs off the caller's thread
        Assert.Equal(0, Rows(writer.Ref));
    }
}
