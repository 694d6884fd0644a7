using System.Buffers;
using Engine.Network;

namespace Engine.Tests.Network;

/// <summary>The connection's body buffer on pooled arrays: what is written is kept in order across growth, and reset and dispose behave.</summary>
public sealed class PooledBufferWriterSpecs
{
    [Fact]
    public void Writes_past_the_first_array_keep_every_octet_in_order()
    {
        using var writer = new PooledBufferWriter(16);
        var expected = Enumerable.Range(0, 70_000).Select(i => (byte)(i * 7)).ToArray();
        // Uneven pieces, so that some writes straddle the end of an array.
        for (var at = 0; at < expected.Length;)
        {
            var piece = Math.Min(1 + (at % 997), expected.Length - at);
            writer.Write(expected.AsSpan(at, piece));
            at += piece;
        }
        Assert.Equal(expected.Length, writer.WrittenCount);
        Assert.True(writer.WrittenSpan.SequenceEqual(expected));
        Assert.True(writer.WrittenMemory.Span.SequenceEqual(expected));
    }

    [Fact]
    public void A_reset_starts_again_at_the_front_and_keeps_the_room()
    {
        using var writer = new PooledBufferWriter(8);
        writer.Write("first message text"u8);
        var room = writer.GetSpan().Length + writer.WrittenCount;
        writer.ResetWrittenCount();
        Assert.Equal(0, writer.WrittenCount);
        Assert.Equal(room, writer.GetSpan().Length);
        writer.Write("second"u8);
        Assert.Equal("second"u8.ToArray(), writer.WrittenSpan.ToArray());
    }

    [Fact]
    public void Get_span_gives_at_least_the_size_asked_and_advance_past_it_is_refused()
    {
        using var writer = new PooledBufferWriter(4);
        Assert.True(writer.GetSpan(5000).Length >= 5000);
        Assert.True(writer.GetMemory().Length >= 1);
        var room = writer.GetSpan().Length;
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Advance(room + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Advance(-1));
        Assert.Equal(0, writer.WrittenCount);
    }

    [Fact]
    public void A_disposed_writer_refuses_to_be_written_and_can_be_disposed_twice()
    {
        var writer = new PooledBufferWriter(64);
        writer.Write("text"u8);
        writer.Dispose();
        Assert.Equal(0, writer.WrittenCount);
        Assert.Throws<ObjectDisposedException>(() => writer.GetSpan());
        writer.Dispose();
    }
}
