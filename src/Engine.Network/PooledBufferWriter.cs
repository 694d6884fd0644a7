using System.Buffers;

namespace Engine.Network;

/// <summary>
/// An <see cref="IBufferWriter{T}"/> of octets on arrays rented from the shared pool, for a buffer that lives as
/// long as a connection and is filled and emptied many times: a connection that ends gives its array back
/// instead of leaving it to the collector.
/// </summary>
public sealed class PooledBufferWriter(int initialSize) : IBufferWriter<byte>, IDisposable
{
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(initialSize, 1));

    public int WrittenCount { get; private set; }

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, WrittenCount);

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, WrittenCount);

    public void ResetWrittenCount() => WrittenCount = 0;

    public void Advance(int count)
    {
        if (count < 0 || WrittenCount + count > _buffer.Length)
            throw new ArgumentOutOfRangeException(nameof(count));
        WrittenCount += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        var room = Room(sizeHint); // first: it may put a larger array in place
        return _buffer.AsMemory(WrittenCount, room);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        var room = Room(sizeHint);
        return _buffer.AsSpan(WrittenCount, room);
    }

    /// <summary>Gives the array back; the writer must not be used after.</summary>
    public void Dispose()
    {
        var buffer = _buffer;
        _buffer = [];
        WrittenCount = 0;
        if (buffer.Length > 0)
            ArrayPool<byte>.Shared.Return(buffer);
    }

    /// <summary>Makes room for at least <paramref name="sizeHint"/> octets (one when zero) and says how much there is.</summary>
    private int Room(int sizeHint)
    {
        ObjectDisposedException.ThrowIf(_buffer.Length == 0, this);
        var needed = Math.Max(sizeHint, 1);
        if (_buffer.Length - WrittenCount < needed)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, WrittenCount + needed));
            _buffer.AsSpan(0, WrittenCount).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }
        return _buffer.Length - WrittenCount;
    }
}
