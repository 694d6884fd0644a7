using System.Collections.Concurrent;
using Engine.Primitives;

namespace Engine.Storage.Blobs;

/// <summary>
/// The spool as files: <c>spool/&lt;c&gt;/&lt;queue id&gt;</c>, where c is the last character of the id, so
/// 32 directories share the load (as Postfix's hashed queue directories). With <c>fsync</c> on, a
/// commit fsyncs the file and then its directory; directory fsyncs of concurrent commits are shared.
/// </summary>
public sealed class FileBlobStore : IBlobStore, ISweptBlobStore
{
    private readonly string _root;
    private readonly bool _fsync;
    private readonly ConcurrentDictionary<string, DirectorySync> _directories = new();

    public FileBlobStore(string root, bool fsync)
    {
        _root = Path.GetFullPath(root);
        _fsync = fsync;
        foreach (var c in QueueId.Alphabet)
            Directory.CreateDirectory(Path.Combine(_root, c.ToString()));
    }

    public string Root => _root;

    public IBlobWriter Create(QueueId id)
    {
        var relative = $"{id.Value[^1]}/{id.Value}";
        var path = Path.Combine(_root, relative);
        var directory = Path.GetDirectoryName(path)!;
        // No FileStream buffer: the connection hands over large writes (a small message in one).
        var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read, bufferSize: 0);
        return new Writer(this, relative, path, stream, _directories.GetOrAdd(directory, d => new DirectorySync(d)));
    }

    public Stream OpenRead(string blobRef) =>
        new FileStream(Resolve(blobRef), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 64 * 1024,
            FileOptions.Asynchronous | FileOptions.SequentialScan);

    public long Length(string blobRef) => new FileInfo(Resolve(blobRef)) is { Exists: true } file
        ? file.Length
        : throw new FileNotFoundException($"spool file {blobRef} is gone", Resolve(blobRef));

    public bool Exists(string blobRef) => File.Exists(Resolve(blobRef));

    public void Delete(string blobRef) => File.Delete(Resolve(blobRef));

    public IReadOnlyList<(QueueId Id, string Ref)> Bodies(DateTimeOffset before)
    {
        var bodies = new List<(QueueId, string)>();
        foreach (var c in QueueId.Alphabet)
        {
            foreach (var path in Directory.EnumerateFiles(Path.Combine(_root, c.ToString())))
            {
                if (QueueId.TryParse(Path.GetFileName(path), out var id) && id.Time < before)
                    bodies.Add((id, $"{c}/{id.Value}"));
            }
        }
        return bodies;
    }

    private string Resolve(string blobRef)
    {
        var path = Path.GetFullPath(Path.Combine(_root, blobRef));
        if (!path.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException($"Blob reference outside the spool: '{blobRef}'", nameof(blobRef));
        return path;
    }

    private sealed class Writer(FileBlobStore store, string blobRef, string path, FileStream stream, DirectorySync directory)
        : IBlobWriter
    {
        private int _done;

        public string Ref => blobRef;

        public ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default) =>
            stream.WriteAsync(bytes, cancellationToken);

        public async Task CommitAsync(CancellationToken cancellationToken = default)
        {
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (store._fsync)
            {
                // fsync(2) blocks; concurrent commits from many sessions run side by side, and the file
                // system folds them into shared journal commits.
                await Task.Run(() => stream.Flush(flushToDisk: true), cancellationToken).ConfigureAwait(false);
            }
            await stream.DisposeAsync().ConfigureAwait(false);
            if (store._fsync)
                await directory.SyncAsync().ConfigureAwait(false);
            Interlocked.Exchange(ref _done, 1);
        }

        /// <summary>Deletes an uncommitted body; safe to call from any thread, more than once.</summary>
        public void Abort()
        {
            if (Interlocked.Exchange(ref _done, 1) != 0)
                return;
            stream.Dispose();
            File.Delete(path);
        }

        public ValueTask DisposeAsync()
        {
            Abort();
            return ValueTask.CompletedTask;
        }
    }
}
