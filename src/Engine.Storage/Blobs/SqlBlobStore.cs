using System.Data.Common;
using Engine.Primitives;
using Engine.Storage.Sql;

namespace Engine.Storage.Blobs;

/// <summary>
/// The spool in the engine's database (engine.storage.blob-store = database): each body in rows of
/// <see cref="ChunkSize"/> bytes in the table <c>message_bodies</c>, so every node of a cluster reaches it through
/// PostgreSQL without a shared file system. A body is written as it arrives, a chunk at a time inside one
/// transaction, and exists for readers only once that transaction commits (the database's own durability: fsync of
/// its WAL). Reads fetch one chunk at a time, so a large message never sits whole in memory.
/// </summary>
public sealed class SqlBlobStore : IBlobStore
{
    public const int ChunkSize = 256 * 1024;

    private readonly EngineDatabase _database;

    public SqlBlobStore(EngineDatabase database)
    {
        _database = database;
        var binary = database.Provider == DatabaseProvider.PostgreSql ? "BYTEA" : "BLOB";
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"""
            CREATE TABLE IF NOT EXISTS message_bodies (
                ref VARCHAR(64) NOT NULL,
                chunk INTEGER NOT NULL,
                data {binary} NOT NULL,
                PRIMARY KEY (ref, chunk))
            """;
        command.ExecuteNonQuery();
    }

    public IBlobWriter Create(QueueId id) => new Writer(_database, id.Value);

    public Stream OpenRead(string blobRef) => new ChunkStream(_database, blobRef);

    public long Length(string blobRef)
    {
        using var body = OpenRead(blobRef);
        return body.Length;
    }

    public bool Exists(string blobRef) => Guarded(blobRef, () =>
    {
        using var connection = _database.Open();
        using var command = Command(connection, "SELECT 1 FROM message_bodies WHERE ref = @a AND chunk = 0", blobRef);
        return command.ExecuteScalar() is not null;
    });

    public void Delete(string blobRef) => Guarded(blobRef, () =>
    {
        using var connection = _database.Open();
        using var command = Command(connection, "DELETE FROM message_bodies WHERE ref = @a", blobRef);
        return command.ExecuteNonQuery();
    });

    private static DbCommand Command(DbConnection connection, string sql, params object[] values) =>
        EngineDatabase.Command(connection, null, sql, values);

    /// <summary>A database that fails is an I/O failure to the callers, as a spool file that cannot be read.</summary>
    private static T Guarded<T>(string blobRef, Func<T> action)
    {
        try
        {
            return action();
        }
        catch (DbException e)
        {
            throw new IOException($"message body {blobRef}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Writes each full chunk but the first in a short statement of its own (no connection or transaction held while a
    /// slow client sends), and chunk 0 last, at commit: a body is there for readers once its chunk 0 is, so chunk 0 is
    /// the commit. Chunk 0's bytes wait in memory until then (256 KiB at most). An abort deletes what was written.
    /// </summary>
    private sealed class Writer(EngineDatabase database, string blobRef) : IBlobWriter
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private readonly MemoryStream _pending = new();
        private byte[]? _first;
        private int _chunks; // full chunks taken so far (chunk 0 kept, the others written)
        private int _done; // 1 once committed or aborted

        public string Ref => blobRef;

        public async ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
        {
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                ObjectDisposedException.ThrowIf(Volatile.Read(ref _done) != 0, this);
                while (bytes.Length > 0)
                {
                    var take = (int)Math.Min(bytes.Length, ChunkSize - _pending.Length);
                    _pending.Write(bytes.Span[..take]);
                    bytes = bytes[take..];
                    if (_pending.Length == ChunkSize)
                        await TakeChunkAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (DbException e)
            {
                throw new IOException($"message body {blobRef}: {e.Message}", e);
            }
            finally
            {
                _gate.Release();
            }
        }

        private async Task TakeChunkAsync(CancellationToken cancellationToken)
        {
            if (_chunks == 0)
                _first = _pending.ToArray();
            else
                await InsertAsync(_chunks, _pending.ToArray(), cancellationToken).ConfigureAwait(false);
            _chunks++;
            _pending.SetLength(0);
        }

        private async Task InsertAsync(int chunk, byte[] data, CancellationToken cancellationToken)
        {
            await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var command = Command(connection, "INSERT INTO message_bodies (ref, chunk, data) VALUES (@a, @b, @c)", blobRef, chunk, data);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        public async Task CommitAsync(CancellationToken cancellationToken = default)
        {
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                ObjectDisposedException.ThrowIf(Volatile.Read(ref _done) != 0, this);
                if (_chunks == 0)
                {
                    _first = _pending.ToArray(); // the whole body is chunk 0 (an empty body too)
                }
                else if (_pending.Length > 0)
                {
                    await InsertAsync(_chunks, _pending.ToArray(), cancellationToken).ConfigureAwait(false);
                }
                await InsertAsync(0, _first!, cancellationToken).ConfigureAwait(false);
                Interlocked.Exchange(ref _done, 1);
            }
            catch (DbException e)
            {
                throw new IOException($"message body {blobRef}: {e.Message}", e);
            }
            finally
            {
                _gate.Release();
            }
        }

        /// <summary>Throws the body away: the chunks written so far are deleted. Safe from any thread, more than once; waits for a write under way.</summary>
        public void Abort()
        {
            if (Interlocked.Exchange(ref _done, 1) != 0)
                return;
            _ = Task.Run(async () =>
            {
                await _gate.WaitAsync().ConfigureAwait(false);
                try
                {
                    if (_chunks > 1)
                    {
                        await using var connection = await database.OpenAsync().ConfigureAwait(false);
                        await using var command = Command(connection, "DELETE FROM message_bodies WHERE ref = @a", blobRef);
                        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
                    }
                }
                catch (DbException)
                {
                    // the rows stay as an orphan without chunk 0, invisible to readers
                }
                finally
                {
                    _gate.Release();
                }
            });
        }

        public ValueTask DisposeAsync()
        {
            Abort();
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>A body read a chunk at a time; a missing body is <see cref="FileNotFoundException"/>, as a missing spool file.</summary>
    private sealed class ChunkStream : Stream
    {
        private readonly EngineDatabase _database;
        private readonly string _ref;
        private byte[] _chunk;
        private int _offset;
        private int _next = 1;
        private long _position;
        private readonly long _length;

        private readonly int _count;

        public ChunkStream(EngineDatabase database, string blobRef)
        {
            (_database, _ref) = (database, blobRef);
            _chunk = Guarded(blobRef, () => Load(0)) ?? throw new FileNotFoundException($"message body {blobRef} is not in the database", blobRef);
            // How many chunks and bytes the committed body has, so that a chunk deleted while the body is read is an
            // error, not a shorter body.
            (_count, _length) = Guarded(blobRef, () =>
            {
                using var connection = _database.Open();
                var size = _database.Provider == DatabaseProvider.PostgreSql ? "octet_length(data)" : "length(data)";
                using var command = Command(connection, $"SELECT COUNT(*), COALESCE(SUM({size}), 0) FROM message_bodies WHERE ref = @a", _ref);
                using var reader = command.ExecuteReader();
                reader.Read();
                return ((int)reader.GetInt64(0), reader.GetInt64(1));
            });
        }

        private byte[]? Load(int chunk)
        {
            using var connection = _database.Open();
            using var command = Command(connection, "SELECT data FROM message_bodies WHERE ref = @a AND chunk = @b", _ref, chunk);
            return command.ExecuteScalar() as byte[];
        }

        private async Task<byte[]?> LoadAsync(int chunk, CancellationToken cancellationToken)
        {
            await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var command = Command(connection, "SELECT data FROM message_bodies WHERE ref = @a AND chunk = @b", _ref, chunk);
            return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as byte[];
        }

        public override int Read(Span<byte> buffer)
        {
            if (_offset == _chunk.Length && _next < _count)
                Next(Guarded(_ref, () => Load(_next)));
            return Copy(buffer);
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_offset == _chunk.Length && _next < _count)
            {
                try
                {
                    Next(await LoadAsync(_next, cancellationToken).ConfigureAwait(false));
                }
                catch (DbException e)
                {
                    throw new IOException($"message body {_ref}: {e.Message}", e);
                }
            }
            return Copy(buffer.Span);
        }

        private void Next(byte[]? chunk)
        {
            (_chunk, _offset) = (chunk ?? throw new IOException($"message body {_ref}: chunk {_next} of {_count} is gone (deleted while read)"), 0);
            _next++;
        }

        private int Copy(Span<byte> buffer)
        {
            var n = Math.Min(buffer.Length, _chunk.Length - _offset);
            _chunk.AsSpan(_offset, n).CopyTo(buffer);
            _offset += n;
            _position += n;
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;

        /// <summary>The body's size, as the database said when the stream opened.</summary>
        public override long Length => _length;

        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
