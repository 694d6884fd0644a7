using System.Buffers;
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
/// died) and every record in it is deleted. The process that writes a segment holds a lock on it (FileControl.TryLock), so a restart or
/// another node on a shared spool seals only a segment no one writes.</para>
/// </summary>
public sealed class SegmentBlobStore : IBlobStore, ISweptBlobStore, IDisposable
{
    public const long DefaultSegmentSize = 16L << 20;
    public const int InlineLimit = 1 << 20;
    private const string Prefix = "seg/";
    private const string TombstoneFile = ".del";
    private const string Unnamed = ".new";

    private readonly FileBlobStore _files;
    private readonly string _dir;
    private readonly bool _fsync;
    private readonly FlushThread _flushThread;
    private readonly long _segmentSize;
    private readonly Lock _gate = new();
    // What this process knows of the segments it wrote or met (deleted from, read the records of); forgotten when removed.
    private readonly Dictionary<string, Segment> _segments = [];
    private List<Pending> _waiting = [];
    private readonly TimeSpan _commitDelay;
    private int _receiving; // writers made and not yet committed or aborted
    // Never disposed: a writer may be aborted after the store (it only Sets it), and it holds no kernel handle.
    private readonly ManualResetEventSlim _noneReceiving = new(true);
    private bool _flushing;
    private bool _disposed;
    private Segment? _active;

    /// <param name="commitDelay">
    /// How long an append waits, at most, for the bodies still being received when it starts (PostgreSQL's commit_delay,
    /// with commit_siblings = 1): while other sessions are in the middle of a body, their commits are near, and one write
    /// and one fsync for all of them cost less than one each. The wait ends early once none is left. Zero: no wait.
    /// </param>
    public SegmentBlobStore(string root, bool fsync, long segmentSize = DefaultSegmentSize, TimeSpan commitDelay = default)
    {
        _files = new FileBlobStore(root, fsync);
        _fsync = fsync;
        _flushThread = new FlushThread("Spool flush", Flush);
        _segmentSize = segmentSize;
        _commitDelay = commitDelay;
        _dir = Path.Combine(_files.Root, "segments");
        Directory.CreateDirectory(_dir);
        Recover();
    }

    /// <summary>How many appends (a write and an fsync each) have run: fewer than the commits when commits share them.</summary>
    public long Appends { get; private set; }

    public IBlobWriter Create(QueueId id)
    {
        if (Interlocked.Increment(ref _receiving) == 1)
            _noneReceiving.Reset();
        return new Writer(this, id);
    }

    /// <summary>A writer is no longer receiving: it commits, or it is thrown away.</summary>
    private void Received()
    {
        if (Interlocked.Decrement(ref _receiving) == 0)
            _noneReceiving.Set();
    }

    public Stream OpenRead(string blobRef)
    {
        if (!TryParse(blobRef, out var name, out var offset, out var length))
            return _files.OpenRead(blobRef);
        if (IsDeleted(name, offset))
            throw new FileNotFoundException($"spool segment {name}: the body at {offset} was deleted", PathOf(name));
        SafeFileHandle file;
        try
        {
            file = File.OpenHandle(PathOf(name), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous);
        }
        catch (FileNotFoundException)
        {
            Forget(name);
            throw;
        }
        if (!SegmentFormat.IsRecord(file, offset, length))
        {
            file.Dispose();
            throw new IOException($"spool segment {name}: no body of {length} octets at {offset}");
        }
        return new SegmentStream(file, offset + SegmentFormat.HeaderSize, length);
    }

    public long Length(string blobRef)
    {
        if (!TryParse(blobRef, out var name, out var offset, out var length))
            return _files.Length(blobRef);
        lock (_gate)
        {
            if (_segments.TryGetValue(name, out var segment) && segment.Deleted.Contains(offset))
                throw new FileNotFoundException($"spool segment {name}: the body at {offset} was deleted", PathOf(name));
            if (segment?.Handle is not null)
                return length; // the segment this process writes
        }
        // In the reference; the file looked up, not opened (a body deleted by another process fails when it is read).
        return File.Exists(PathOf(name)) ? length : throw new FileNotFoundException($"spool segment {name} is gone", PathOf(name));
    }

    public bool Exists(string blobRef)
    {
        if (!TryParse(blobRef, out var name, out var offset, out var length))
            return _files.Exists(blobRef);
        lock (_gate)
        {
            // The segment this process writes: what it wrote and deleted is known here, no need to read the file.
            if (_segments.TryGetValue(name, out var own) && own.Handle is not null)
                return own.Records!.Contains(offset) && !own.Deleted.Contains(offset);
        }
        if (IsDeleted(name, offset))
            return false;
        try
        {
            // The record's own header, not the file's size: on a shared spool another node's view of the size may lag.
            using var file = File.OpenHandle(PathOf(name), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            return SegmentFormat.IsRecord(file, offset, length);
        }
        catch (FileNotFoundException)
        {
            Forget(name);
            return false;
        }
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
        Segment segment;
        lock (_gate)
        {
            if (!_segments.TryGetValue(name, out segment!))
            {
                if (!File.Exists(PathOf(name)))
                    return; // deleted before, and the segment removed since
                segment = _segments[name] = new Segment(name);
            }
            if (segment.Records is { } records && !records.Contains(offset))
                return; // no record starts there: nothing to delete
        }
        AppendTombstone(segment, offset);
        lock (_gate)
            segment.Deleted.Add(offset);
        TryReclaim(segment);
    }

    /// <summary>Every live record, in every segment (the one being written too), and the large bodies in files of their own.</summary>
    public IReadOnlyList<(QueueId Id, string Ref)> Bodies(DateTimeOffset before)
    {
        var bodies = new List<(QueueId, string)>(_files.Bodies(before));
        foreach (var path in Directory.EnumerateFiles(_dir))
        {
            var name = Path.GetFileName(path);
            if (!IsName(name))
                continue;
            Segment segment;
            lock (_gate)
            {
                if (!_segments.TryGetValue(name, out segment!))
                    segment = _segments[name] = new Segment(name);
            }
            ReadTombstones(segment);
            try
            {
                using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                foreach (var offset in SegmentFormat.Walk(file).Records.Order())
                {
                    bool deleted;
                    lock (_gate)
                        deleted = segment.Deleted.Contains(offset);
                    var (text, length) = SegmentFormat.HeaderAt(file, offset);
                    if (!deleted && QueueId.TryParse(text, out var id) && id.Time < before)
                        bodies.Add((id, string.Create(CultureInfo.InvariantCulture, $"{Prefix}{name}/{offset}/{length}")));
                }
            }
            catch (FileNotFoundException)
            {
                Forget(name); // removed meanwhile
            }
        }
        return bodies;
    }

    /// <summary>Seals the segment being written, as at a clean stop; commits still waiting fail.</summary>
    public void Dispose()
    {
        lock (_gate)
            _disposed = true;
        SpinWait.SpinUntil(() => !Volatile.Read(ref _flushing), TimeSpan.FromSeconds(10));
        Segment? active;
        lock (_gate)
        {
            active = _flushing ? null : _active;
            _active = null;
        }
        if (active is not null)
            Retire(active);
        lock (_gate)
        {
            foreach (var segment in _segments.Values)
                CloseTombstones(segment);
        }
        _flushThread.Dispose();
    }

    private string PathOf(string name) => Path.Combine(_dir, name);

    private static bool IsName(string name) => name.Length == QueueId.Length && name.All(c => QueueId.Alphabet.Contains(c));

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

    /// <summary>Deleted, as far as this process knows: by itself, or by the tombstones other processes wrote.</summary>
    private bool IsDeleted(string name, long offset)
    {
        Segment? segment;
        lock (_gate)
        {
            if (!_segments.TryGetValue(name, out segment))
                segment = _segments[name] = new Segment(name); // another process's: its tombstones are read below
            if (segment.Deleted.Contains(offset) || segment.Handle is not null)
                return segment.Deleted.Contains(offset);
        }
        ReadTombstones(segment);
        lock (_gate)
            return segment.Deleted.Contains(offset);
    }

    /// <summary>Every record deleted; the counts first, so a delete does not walk the whole set each time. Under the gate.</summary>
    private static bool AllDeleted(Segment segment) =>
        segment.Deleted.Count >= segment.Records!.Count && segment.Records.IsSubsetOf(segment.Deleted);

    private void Forget(string name)
    {
        lock (_gate)
        {
            if (_segments.TryGetValue(name, out var segment) && segment.Handle is null)
            {
                _segments.Remove(name);
                CloseTombstones(segment);
            }
        }
    }

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
        _flushThread.Signal();
        return pending.Task;
    }

    /// <summary>Writes what waits in one write and one fsync, and again while more comes meanwhile.</summary>
    private void Flush()
    {
        while (true)
        {
            List<Pending> batch;
            bool stop;
            // Others' bodies are near their commit: one append for all. The count is read first, as the event may lag it
            // (a Reset after another writer's Set), so that with none receiving there is never a wait.
            if (_commitDelay > TimeSpan.Zero && _fsync && Volatile.Read(ref _receiving) > 0)
                _noneReceiving.Wait(_commitDelay);
            lock (_gate)
            {
                batch = _waiting;
                _waiting = [];
                stop = batch.Count == 0 || _disposed;
                if (stop)
                    _flushing = false; // from here on a commit starts another loop
            }
            if (stop)
            {
                foreach (var left in batch)
                    left.TrySetException(new ObjectDisposedException(nameof(SegmentBlobStore)));
                return;
            }
            WriteBatch(batch);
        }
    }

    /// <summary>Appends a batch and answers each of its commits. Never throws.</summary>
    private void WriteBatch(List<Pending> batch)
    {
        Segment? segment = null;
        try
        {
            segment = Writable();
            var start = segment.End;
            var at = start;
            var records = new ReadOnlyMemory<byte>[batch.Count];
            var offsets = new long[batch.Count];
            for (var i = 0; i < batch.Count; i++)
            {
                records[i] = batch[i].Record;
                offsets[i] = at;
                at += batch[i].Record.Length;
            }
            RandomAccess.Write(segment.Handle!, records, start);
            if (_fsync)
                RandomAccess.FlushToDisk(segment.Handle!);
            lock (_gate)
            {
                segment.End = at;
                segment.Records!.UnionWith(offsets);
                Appends++;
            }
            for (var i = 0; i < batch.Count; i++)
            {
                var length = batch[i].Record.Length - SegmentFormat.HeaderSize;
                batch[i].TrySetResult(string.Create(CultureInfo.InvariantCulture, $"{Prefix}{segment.Name}/{offsets[i]}/{length}"));
            }
        }
        catch (Exception e)
        {
            // Whatever failed, the waiting sessions hear it (451) and the loop goes on: it runs on the thread pool.
            foreach (var failed in batch)
                failed.TrySetException(new IOException("spool segment write failed: " + e.Message, e));
            // What was written of the batch is no one's record: the segment is sealed after its last good one.
            if (segment is not null)
                Retire(segment);
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
        var temporary = PathOf(name + Unnamed);
        var file = File.OpenHandle(temporary, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        try
        {
            if (!FileControl.TryLock(file))
                throw new IOException($"spool segment {name}: another process locked it first");
            File.Move(temporary, PathOf(name));
            if (_fsync)
                DirectorySync.Fsync(_dir);
        }
        catch
        {
            file.Dispose();
            File.Delete(temporary);
            File.Delete(PathOf(name));
            throw;
        }
        var segment = new Segment(name) { Handle = file, Records = [] };
        lock (_gate)
        {
            _active = segment;
            _segments[name] = segment;
        }
        return segment;
    }

    /// <summary>Seals a segment of this process and closes it; removes it when nothing in it is live. Never throws.</summary>
    private void Retire(Segment segment)
    {
        try
        {
            SegmentFormat.WriteSeal(segment.Handle!, segment.End, segment.Records!.Count, _fsync);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            // Left unsealed: the next start of a process on this spool seals it.
        }
        lock (_gate)
        {
            segment.Handle?.Dispose();
            segment.Handle = null;
            if (_active == segment)
                _active = null;
        }
        TryReclaim(segment);
    }

    /// <summary>
    /// Startup: seals the segments no process writes (left by a crash), forgets the temporary ones, and removes every
    /// sealed segment whose records are all deleted. Another node may remove files meanwhile.
    /// </summary>
    private void Recover()
    {
        foreach (var path in Directory.EnumerateFiles(_dir))
        {
            var file = Path.GetFileName(path);
            var stem = file.Split('.')[0];
            if (!IsName(stem) || file[stem.Length..] is not ("" or TombstoneFile or Unnamed))
                continue; // not the spool's
            try
            {
                if (file.EndsWith(TombstoneFile, StringComparison.Ordinal))
                {
                    if (!File.Exists(PathOf(stem)))
                        File.Delete(path); // written after its segment was removed
                    continue;
                }
                Segment segment;
                using (var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete))
                {
                    if (!FileControl.TryLock(handle))
                        continue; // another process writes it
                    if (file.EndsWith(Unnamed, StringComparison.Ordinal))
                    {
                        File.Delete(path); // made, never named, never written
                        continue;
                    }
                    var (records, end, isSealed) = SegmentFormat.Walk(handle);
                    if (!isSealed)
                        SegmentFormat.WriteSeal(handle, end, records.Count, _fsync);
                    segment = new Segment(file) { Records = records };
                }
                lock (_gate)
                    _segments[file] = segment;
                TryReclaim(segment);
            }
            catch (FileNotFoundException)
            {
                // removed by another process meanwhile
            }
        }
    }

    /// <summary>
    /// Removes a segment no one writes once every record in it is deleted; the one this process writes goes too when
    /// nothing in it is live and no flush runs (so an idle spool is empty). Never throws.
    /// </summary>
    private void TryReclaim(Segment segment)
    {
        try
        {
            lock (_gate)
            {
                if (segment.Handle is not null)
                {
                    if (segment != _active || _flushing || !AllDeleted(segment))
                        return;
                    // The segment being written holds nothing live: closed and removed now; the next commit starts another.
                    segment.Handle.Dispose();
                    segment.Handle = null;
                    _active = null;
                    _segments.Remove(segment.Name);
                    RemoveFiles(segment);
                    return;
                }
            }
            if (segment.Records is null)
            {
                using var handle = File.OpenHandle(PathOf(segment.Name), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                var walk = SegmentFormat.Walk(handle);
                if (!walk.Sealed)
                    return; // still written by its process, which reads the tombstones when it seals it
                lock (_gate)
                    segment.Records = walk.Records;
            }
            lock (_gate)
            {
                if (AllDeleted(segment))
                {
                    _segments.Remove(segment.Name);
                    RemoveFiles(segment);
                    return;
                }
            }
            ReadTombstones(segment); // deletes by other processes
            lock (_gate)
            {
                if (!AllDeleted(segment))
                    return;
                _segments.Remove(segment.Name);
            }
            RemoveFiles(segment);
        }
        catch (FileNotFoundException)
        {
            Forget(segment.Name); // removed by another process
        }
        catch (Exception)
        {
            // Left as it is: a later delete, or the next start, tries again. It must not fail a flush or a delete.
        }
    }

    /// <summary>Reads the tombstones written since the last read (by any process) into what this one knows.</summary>
    private void ReadTombstones(Segment segment)
    {
        byte[] bytes;
        int length;
        try
        {
            using var file = new FileStream(PathOf(segment.Name) + TombstoneFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
            long from;
            lock (_gate)
                from = segment.TombstonesRead;
            file.Position = from;
            bytes = new byte[Math.Max(0, file.Length - from)];
            length = file.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false);
            length -= length % SegmentFormat.TombstoneSize; // a torn last one is read again next time
            lock (_gate)
            {
                if (segment.TombstonesRead != from)
                    return; // another thread read them meanwhile
                segment.TombstonesRead = from + length;
                segment.Deleted.UnionWith(SegmentFormat.Tombstones(bytes, length));
            }
        }
        catch (FileNotFoundException)
        {
            // none yet, or the segment was removed
        }
    }

    /// <summary>
    /// Appends a tombstone through the segment's tombstone file, opened at its first delete and kept open until the
    /// segment is removed or forgotten (an open and a close less for every delete after the first).
    /// </summary>
    private void AppendTombstone(Segment segment, long offset)
    {
        Span<byte> bytes = stackalloc byte[SegmentFormat.TombstoneSize];
        SegmentFormat.WriteTombstone(bytes, offset);
        lock (_gate)
        {
            // At the end whoever else appends meanwhile: another thread's delete, another node's on a shared spool.
            segment.Tombstones ??= FileControl.OpenForAppend(PathOf(segment.Name) + TombstoneFile);
            FileControl.Append(segment.Tombstones, bytes);
        }
    }

    private void RemoveFiles(Segment segment)
    {
        CloseTombstones(segment);
        File.Delete(PathOf(segment.Name));
        File.Delete(PathOf(segment.Name) + TombstoneFile);
    }

    private void CloseTombstones(Segment segment)
    {
        lock (_gate)
        {
            segment.Tombstones?.Dispose();
            segment.Tombstones = null;
        }
    }

    private sealed class Segment(string name)
    {
        public string Name => name;

        /// <summary>Open (and locked) while this process writes the segment; null once sealed or closed, or for another's.</summary>
        public SafeFileHandle? Handle { get; set; }

        public long End { get; set; }

        /// <summary>Where each whole record starts: grown by this process's writes, or walked once the segment is sealed.</summary>
        public HashSet<long>? Records { get; set; }

        /// <summary>The records known deleted: by this process, and by the tombstones read so far.</summary>
        public HashSet<long> Deleted { get; } = [];

        public long TombstonesRead { get; set; }

        /// <summary>The tombstone file, open for appends since this process's first delete from the segment.</summary>
        public SafeFileHandle? Tombstones { get; set; }
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
        private int _receiving = 1;

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
            Received();
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
            Received();
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

        private void Received()
        {
            if (Interlocked.Exchange(ref _receiving, 0) == 1)
                store.Received();
        }

        private void Release()
        {
            var buffer = Interlocked.Exchange(ref _buffer, []);
            if (buffer.Length > 0)
                ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
