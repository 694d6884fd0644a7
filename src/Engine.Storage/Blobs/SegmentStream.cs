using Microsoft.Win32.SafeHandles;

namespace Engine.Storage.Blobs;

/// <summary>One body in a spool segment, read in place: <paramref name="length"/> octets from <paramref name="start"/>.</summary>
internal sealed class SegmentStream(SafeFileHandle file, long start, long length) : Stream
{
    private long _position;

    public override bool CanRead => !file.IsClosed;

    public override bool CanSeek => !file.IsClosed;

    public override bool CanWrite => false;

    public override long Length => length;

    public override long Position
    {
        get => _position;
        set => _position = Math.Clamp(value, 0, length);
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var read = RandomAccess.Read(file, buffer[..Available(buffer.Length)], start + _position);
        _position += read;
        return read;
    }

    // Read in place. .NET has no asynchronous file I/O on Linux: RandomAccess.ReadAsync queues the same blocking
    // pread(2) to another pool thread and wakes it, a context switch per read, for a body that is mostly in the page cache.
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        cancellationToken.IsCancellationRequested ? ValueTask.FromCanceled<int>(cancellationToken) : ValueTask.FromResult(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private int Available(int wanted) => (int)Math.Min(wanted, length - _position);

    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        _ => length + offset,
    };

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            file.Dispose();
        base.Dispose(disposing);
    }
}
