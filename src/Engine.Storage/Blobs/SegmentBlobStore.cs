using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using Engine.Primitives;
using Microsoft.Win32.SafeHandles;

namespace Engine.Storage.Blobs;

/// <summary>
/// The spool as segments (engine.storage.blob-store = segments): bodies appended to a shared file,
/// <c>spool/segments/&lt;name&gt;</c>, with one write and one fsync for all the bodies committed meanwhile (group
/// commit), instead of a file, its fsync and its directory's fsync per message. A body waits in memory until its
/// commit; one larger than <see cref="InlineLimit"/> goes to a file of its own (<see cref="FileBlobStore"/>), whose
/// references this store reads as well.
/// <para>A reference is <c>seg/&lt;segment&gt;/&lt;offset&gt;/&lt;length&gt;</c>. Deleting a body appends its offset to
/// <c>&lt;segment&gt;.del</c> (a tombstone); a segment is removed once it is sealed (full, or left by a process that
/// died) and every record in it is deleted. The process that writes a segment holds a lock on it (FileLock), so a restart or
/// another node on a shared spool seals only a segment no one writes.</para>
/// </summary>
public sealed class SegmentBlobStore : IBlobStore, IDisposable
{
    public const long DefaultSegmentSize = 16L << 20;
    public const int InlineLimit = 1 << 20;
    private const string Prefix = "seg/";
    private const string Tombstones = ".del";

    private readonly FileBlobStore _files;
    private readonly string _dir;
    private readonly bool _fsync;
    private readonly long _segmentSize;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Segment> _own = []; // this process's segments that still hold live records, with what it deleted
    private readonly ConcurrentDictionary<string, int> _sealed = new(); // records in other segments found sealed
    private List<Pending> _waiting = [];
    private bool _flushing;
    private bool _disposed;
    private Segment? _active;

    public SegmentBlobStore(string root, bool fsync, long segmentSize = DefaultSegmentSize)
    {
        _files = new FileBlobStore(root, fsync);
        _fsync = fsync;
        _segmentSize = segmentSize;
        _dir = Path.Combine(_files.Root, "segments");
        Directory.CreateDirectory(_dir);
        Recover();
    }

    /// <summary>How many appends (a write and an fsync each) have run: fewer than the commits when commits share them.</summary>
    public long Appends { get; private set; }

    public IBlobWriter Create(QueueId id) => new Writer(this, id);

    public Stream OpenRead(string blobRef)
    {
        if (!TryParse(blobRef, out var name, out var offset, out var length))
            return _files.OpenRead(blobRef);
        if (DeletedHere(name, offset))
            throw new FileNotFoundException($"spool segment {name}: the body at {offset} was deleted", PathOf(name));
        var file = File.OpenHandle(PathOf(name), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous);
        if (!SegmentFormat.IsRecord(file, offset, length))
        {
            file.Dispose();
            throw new IOException($"spool segment {name}: no body of {length} octets at {offset}");
        }
        return new SegmentStream(file, offset + SegmentFormat.HeaderSize, length);
    }

    public bool Exists(string blobRef)
    {
        if (!TryParse(blobRef, out var name, out var offset, out var length))
            return _files.Exists(blobRef);
        if (DeletedHere(name, offset))
            return false;
        var file = new FileInfo(PathOf(name));
        return file.Exists && file.Length >= offset + SegmentFormat.HeaderSize + length;
    }

    public void Delete(string blobRef)
    {
        if (string.IsNullOrEmpty(blobRef))
            return; // a writer that never committed
        if (!TryParse(blobRef, out var name, out var offset, out _))
        {
            _files.Delete(blobRef);
            return;
        }
        Segment? own;
        lock (_gate)
            _own.TryGetValue(name, out own);
        if (own is null && !File.Exists(PathOf(name)))
            return; // deleted before, and the segment already removed
        AppendTombstone(name, offset);
        if (own is null)
        {
            TryReclaim(name);
            return;
        }
        var remove = false;
        lock (_gate)
        {
            own.Deleted.Add(offset);
            if (own.Deleted.Count >= own.Records)
            {
                if (own.Handle is null)
                    remove = _own.Remove(name);
                else if (own == _active && !_flushing)
                {
                    // The segment being written holds nothing live any more: closed and removed now, so an idle
                    // spool is empty; the next commit starts a new one.
                    own.Handle.Dispose();
                    own.Handle = null;
                    _active = null;
                    remove = _own.Remove(name);
                }
            }
        }
        if (remove)
            RemoveFiles(name);
        else if (own.Handle is null)
            TryReclaim(name); // sealed meanwhile: counted from its tombstones now
    }

    /// <summary>Closes the segment being written, unsealed, as a process that stops would leave it; the next start seals it.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            if (!_flushing)
                _active?.Handle?.Dispose();
        }
    }

    /// <summary>
    /// Deleted through this process from one of its own segments. A body deleted elsewhere stays readable until its
    /// segment is removed: nothing refers to it any more.
    /// </summary>
    private bool DeletedHere(string name, long offset)
    {
        lock (_gate)
            return _own.TryGetValue(name, out var own) && own.Deleted.Contains(offset);
    }

    private string PathOf(string name) => Path.Combine(_dir, name);

    private static bool TryParse(string blobRef, out string name, out long offset, out int length)
    {
        name = "";
        offset = 0;
        length = 0;
        if (!blobRef.StartsWith(Prefix, StringComparison.Ordinal))
            return false;
        var parts = blobRef[Prefix.Length..].Split('/');
        if (parts.Length != 3 || !IsName(parts[0])
            || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out offset)
            || !int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out length))
            throw new ArgumentException($"not a spool segment reference: '{blobRef}'", nameof(blobRef));
        name = parts[0];
        return true;
    }

    private static bool IsName(string name) => name.Length == QueueId.Length && name.All(c => QueueId.Alphabet.Contains(c));

    private Task<string> AppendAsync(ReadOnlyMemory<byte> record)
    {
        var pending = new Pending(record);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _waiting.Add(pending);
            if (_flushing)
                return pending.Task;
            _flushing = true;
        }
        ThreadPool.UnsafeQueueUserWorkItem(static store => store.Flush(), this, preferLocal: false);
        return pending.Task;
    }

    /// <summary>Writes what waits in one write and one fsync, and again while more comes meanwhile.</summary>
    private void Flush()
    {
        while (true)
        {
            List<Pending> batch;
            lock (_gate)
            {
                if (_waiting.Count == 0 || _disposed)
                {
                    _flushing = false;
                    foreach (var left in _waiting)
                        left.TrySetException(new ObjectDisposedException(nameof(SegmentBlobStore)));
                    _waiting.Clear();
                    return;
                }
                batch = _waiting;
                _waiting = [];
            }
            Segment? segment = null;
            try
            {
                segment = Writable();
                var start = segment.End;
                var at = start;
                var records = new ReadOnlyMemory<byte>[batch.Count];
                var refs = new string[batch.Count];
                for (var i = 0; i < batch.Count; i++)
                {
                    records[i] = batch[i].Record;
                    refs[i] = string.Create(CultureInfo.InvariantCulture, $"{Prefix}{segment.Name}/{at}/{batch[i].Record.Length - SegmentFormat.HeaderSize}");
                    at += batch[i].Record.Length;
                }
                RandomAccess.Write(segment.Handle!, records, start);
                if (_fsync)
                    RandomAccess.FlushToDisk(segment.Handle!);
                lock (_gate)
                {
                    segment.End = at;
                    segment.Records += batch.Count;
                    Appends++;
                }
                for (var i = 0; i < batch.Count; i++)
                    batch[i].TrySetResult(refs[i]);
            }
            catch (Exception e)
            {
                // Whatever failed, the waiting sessions hear it (451) and this loop goes on: it runs on the thread pool.
                foreach (var failed in batch)
                    failed.TrySetException(new IOException("spool segment write failed: " + e.Message, e));
                // What was written of the batch is no record of anyone's: the segment is sealed after its last good one.
                if (segment is not null)
                    Retire(segment);
            }
        }
    }

    /// <summary>The segment to append to (called by the one flush running): the active one, or a new one when it is full.</summary>
    private Segment Writable()
    {
        if (_active is { Handle: not null } active && active.End < _segmentSize)
            return active;
        if (_active is { } full)
            Retire(full);
        // Made under a temporary name and locked before it gets its own, so no other process can take it for one
        // left behind and seal it between the two.
        var name = QueueId.New().Value;
        var temporary = PathOf(name + ".new");
        var file = File.OpenHandle(temporary, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        FileLock.TryLock(file);
        File.Move(temporary, PathOf(name));
        if (_fsync)
            DirectorySync.Fsync(_dir);
        var segment = new Segment(name) { Handle = file };
        lock (_gate)
        {
            _active = segment;
            _own[name] = segment;
        }
        return segment;
    }

    /// <summary>Seals a segment of this process and closes it; removes it when nothing in it is live.</summary>
    private void Retire(Segment segment)
    {
        try
        {
            SegmentFormat.WriteSeal(segment.Handle!, segment.End, segment.Records, _fsync);
        }
        catch (IOException)
        {
            // Left unsealed: the next start of a process on this spool seals it.
        }
        bool remove;
        lock (_gate)
        {
            segment.Handle!.Dispose();
            segment.Handle = null;
            if (_active == segment)
                _active = null;
            remove = segment.Deleted.Count >= segment.Records && _own.Remove(segment.Name);
        }
        if (remove)
            RemoveFiles(segment.Name);
        else
        {
            _sealed[segment.Name] = segment.Records;
            TryReclaim(segment.Name); // other nodes may have deleted what this one did not see
        }
    }

    /// <summary>
    /// Startup: seals the segments no process writes (left by a crash or a stop), forgets the temporary ones, and removes
    /// every sealed segment whose records are all deleted.
    /// </summary>
    private void Recover()
    {
        foreach (var path in Directory.EnumerateFiles(_dir))
        {
            var file = Path.GetFileName(path);
            var stem = file.Split('.')[0];
            if (!IsName(stem) || file[stem.Length..] is not ("" or Tombstones or ".new"))
                continue; // not the spool's
            if (file.EndsWith(Tombstones, StringComparison.Ordinal))
            {
                if (!File.Exists(PathOf(file[..^Tombstones.Length])))
                    File.Delete(path); // a tombstone written after its segment was removed
                continue;
            }
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
            if (!FileLock.TryLock(handle))
                continue; // another process writes it
            if (file.EndsWith(".new", StringComparison.Ordinal))
            {
                File.Delete(path); // made, never named, never written
                continue;
            }
            var (records, end, isSealed) = SegmentFormat.Walk(handle);
            if (!isSealed)
                SegmentFormat.WriteSeal(handle, end, records, _fsync);
            _sealed[file] = records;
        }
        foreach (var name in _sealed.Keys)
            TryReclaim(name);
    }

    /// <summary>Removes a sealed segment once its tombstones name every record in it.</summary>
    private void TryReclaim(string name)
    {
        if (!_sealed.TryGetValue(name, out var records))
        {
            try
            {
                using var handle = File.OpenHandle(PathOf(name), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                var walk = SegmentFormat.Walk(handle);
                if (!walk.Sealed)
                    return; // still written by its process
                records = _sealed[name] = walk.Records;
            }
            catch (FileNotFoundException)
            {
                return;
            }
        }
        var tombstones = new FileInfo(PathOf(name) + Tombstones);
        if (records > 0 && (!tombstones.Exists || tombstones.Length / sizeof(long) < records))
            return;
        var deleted = new HashSet<long>();
        if (tombstones.Exists)
        {
            var bytes = File.ReadAllBytes(tombstones.FullName);
            for (var at = 0; at + sizeof(long) <= bytes.Length; at += sizeof(long))
                deleted.Add(BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(at)));
        }
        if (deleted.Count < records)
            return;
        _sealed.TryRemove(name, out _);
        lock (_gate)
            _own.Remove(name);
        RemoveFiles(name);
    }

    private void AppendTombstone(string name, long offset)
    {
        Span<byte> bytes = stackalloc byte[sizeof(long)];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, offset);
        using var file = new FileStream(PathOf(name) + Tombstones, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        file.Write(bytes);
    }

    private void RemoveFiles(string name)
    {
        File.Delete(PathOf(name));
        File.Delete(PathOf(name) + Tombstones);
    }

    private sealed class Segment(string name)
    {
        public string Name => name;

        /// <summary>Open (and locked) while this process writes the segment; null once sealed or closed.</summary>
        public SafeFileHandle? Handle { get; set; }

        public long End { get; set; }

        public int Records { get; set; }

        public HashSet<long> Deleted { get; } = [];
    }

    private sealed class Pending(ReadOnlyMemory<byte> record) : TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public ReadOnlyMemory<byte> Record => record;
    }

    /// <summary>Collects the body in memory behind room for its header, or in a file of its own once it is large.</summary>
    private sealed class Writer(SegmentBlobStore store, QueueId id) : IBlobWriter
    {
        private byte[] _buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        private int _length = SegmentFormat.HeaderSize;
        private IBlobWriter? _file;
        private string _ref = "";
        private int _done;

        public string Ref => _file?.Ref ?? _ref;

        public async ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
        {
            if (_file is null && _length - SegmentFormat.HeaderSize + bytes.Length > InlineLimit)
            {
                _file = store._files.Create(id);
                await _file.WriteAsync(_buffer.AsMemory(SegmentFormat.HeaderSize, _length - SegmentFormat.HeaderSize), cancellationToken).ConfigureAwait(false);
                Release();
            }
            if (_file is not null)
            {
                await _file.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
                return;
            }
            if (_length + bytes.Length > _buffer.Length)
            {
                var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + bytes.Length));
                _buffer.AsSpan(0, _length).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = larger;
            }
            bytes.Span.CopyTo(_buffer.AsSpan(_length));
            _length += bytes.Length;
        }

        public async Task CommitAsync(CancellationToken cancellationToken = default)
        {
            if (_file is not null)
            {
                await _file.CommitAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
            if (Interlocked.Exchange(ref _done, 1) != 0)
                throw new InvalidOperationException("the body was committed or aborted already");
            SegmentFormat.WriteHeader(_buffer, SegmentFormat.Message, _length - SegmentFormat.HeaderSize, id.Value);
            try
            {
                _ref = await store.AppendAsync(_buffer.AsMemory(0, _length)).ConfigureAwait(false);
            }
            finally
            {
                Release();
            }
        }

        /// <summary>Throws an uncommitted body away. The buffer is not given back here: a write may still be copying into it.</summary>
        public void Abort()
        {
            if (Interlocked.Exchange(ref _done, 1) != 0)
                return;
            _file?.Abort();
            _buffer = [];
        }

        public ValueTask DisposeAsync()
        {
            Abort();
            return ValueTask.CompletedTask;
        }

        private void Release()
        {
            var buffer = Interlocked.Exchange(ref _buffer, []);
            if (buffer.Length > 0)
                ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
