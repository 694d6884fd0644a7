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

    private static DbCommand Command(DbConnection connection, string sql, params object[] values)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        for (var i = 0; i < values.Length; i++)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = "@" + (char)('a' + i);
            parameter.Value = values[i];
            command.Parameters.Add(parameter);
        }
        return command;
    }

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

    private sealed class Writer(EngineDatabase database, string blobRef) : IBlobWriter
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private readonly MemoryStream _pending = new();
        private DbConnection? _connection;
        private DbTransaction? _transaction;
        private int _chunks;
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
                        await FlushChunkAsync(cancellationToken).ConfigureAwait(false);
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

        /// <summary>Writes the chunk gathered so far, in the body's transaction (begun with the first full chunk).</summary>
        private async Task FlushChunkAsync(CancellationToken cancellationToken)
        {
            if (_connection is null)
            {
                _connection = database.Open();
                _transaction = await _connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            }
            await using var command = Command(_connection, "INSERT INTO message_bodies (ref, chunk, data) VALUES (@a, @b, @c)", blobRef, _chunks, _pending.ToArray());
            command.Transaction = _transaction;
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            _chunks++;
            _pending.SetLength(0);
        }

        public async Task CommitAsync(CancellationToken cancellationToken = default)
        {
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                ObjectDisposedException.ThrowIf(Volatile.Read(ref _done) != 0, this);
                // The last chunk, and chunk 0 of an empty body, so that every committed body has a row 0.
                if (_pending.Length > 0 || _chunks == 0)
                    await FlushChunkAsync(cancellationToken).ConfigureAwait(false);
                await _transaction!.CommitAsync(cancellationToken).ConfigureAwait(false);
                Interlocked.Exchange(ref _done, 1);
                await CloseAsync().ConfigureAwait(false);
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

        /// <summary>Throws the body away: its transaction rolls back. Safe from any thread, more than once; waits for a write under way.</summary>
        public void Abort()
        {
            if (Interlocked.Exchange(ref _done, 1) != 0)
                return;
            _ = Task.Run(async () =>
            {
                await _gate.WaitAsync().ConfigureAwait(false);
                try
                {
                    await CloseAsync().ConfigureAwait(false); // disposing an open transaction rolls it back
                }
                catch (DbException)
                {
                    // the connection is gone: so is the uncommitted body
                }
                finally
                {
                    _gate.Release();
                }
            });
        }

        private async Task CloseAsync()
        {
            if (_transaction is not null)
                await _transaction.DisposeAsync().ConfigureAwait(false);
            if (_connection is not null)
                await _connection.DisposeAsync().ConfigureAwait(false);
            (_transaction, _connection) = (null, null);
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
        private long? _length;

        public ChunkStream(EngineDatabase database, string blobRef)
        {
            (_database, _ref) = (database, blobRef);
            _chunk = Guarded(blobRef, () => Load(0)) ?? throw new FileNotFoundException($"message body {blobRef} is not in the database", blobRef);
        }

        private byte[]? Load(int chunk)
        {
            using var connection = _database.Open();
            using var command = Command(connection, "SELECT data FROM message_bodies WHERE ref = @a AND chunk = @b", _ref, chunk);
            return command.ExecuteScalar() as byte[];
        }

        private async Task<byte[]?> LoadAsync(int chunk, CancellationToken cancellationToken)
        {
            await using var connection = _database.Open();
            await using var command = Command(connection, "SELECT data FROM message_bodies WHERE ref = @a AND chunk = @b", _ref, chunk);
            return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as byte[];
        }

        public override int Read(Span<byte> buffer)
        {
            if (_offset == _chunk.Length && _chunk.Length == ChunkSize)
                Next(Guarded(_ref, () => Load(_next)));
            return Copy(buffer);
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_offset == _chunk.Length && _chunk.Length == ChunkSize)
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

        /// <summary>A full chunk may be the last one: then there is no next, and the body ends.</summary>
        private void Next(byte[]? chunk)
        {
            (_chunk, _offset) = (chunk ?? [], 0);
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

        /// <summary>The body's size, asked of the database once.</summary>
        public override long Length => _length ??= Guarded(_ref, () =>
        {
            using var connection = _database.Open();
            var size = _database.Provider == DatabaseProvider.PostgreSql ? "octet_length(data)" : "length(data)";
            using var command = Command(connection, $"SELECT COALESCE(SUM({size}), 0) FROM message_bodies WHERE ref = @a", _ref);
            return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        });

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
