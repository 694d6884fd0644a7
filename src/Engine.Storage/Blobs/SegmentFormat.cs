using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Engine.Storage.Blobs;

/// <summary>
/// The layout of a spool segment: records one after the other, each a 24-octet header (4 octets of magic, the body's
/// length as a 32-bit little-endian integer, the 16 characters of the queue id) and the body; a sealed segment ends
/// with a header whose magic is SEAL and whose length field is the number of records. Only a walk from the start,
/// record by record, finds the seal, so no body can forge one.
/// </summary>
internal static class SegmentFormat
{
    public const int HeaderSize = 24;

    public static ReadOnlySpan<byte> Message => "MSG1"u8;

    public static ReadOnlySpan<byte> Seal => "SEAL"u8;

    public static void WriteHeader(Span<byte> into, ReadOnlySpan<byte> magic, int length, string id)
    {
        into[..HeaderSize].Clear();
        magic.CopyTo(into);
        BinaryPrimitives.WriteInt32LittleEndian(into[4..], length);
        Encoding.ASCII.GetBytes(id.AsSpan(0, Math.Min(id.Length, 16)), into[8..]);
    }

    /// <summary>Whether a record of <paramref name="length"/> octets starts at <paramref name="offset"/>.</summary>
    public static bool IsRecord(SafeFileHandle file, long offset, int length)
    {
        Span<byte> header = stackalloc byte[HeaderSize];
        return RandomAccess.Read(file, header, offset) == HeaderSize && header[..4].SequenceEqual(Message)
               && BinaryPrimitives.ReadInt32LittleEndian(header[4..]) == length;
    }

    /// <summary>
    /// Walks the records from the start: where each whole one starts, where the last whole one ends, and whether the
    /// seal follows it. A record cut short by a crash (its header or body past the end of the file) ends the walk.
    /// </summary>
    public static (HashSet<long> Records, long End, bool Sealed) Walk(SafeFileHandle file)
    {
        var size = RandomAccess.GetLength(file);
        Span<byte> header = stackalloc byte[HeaderSize];
        var records = new HashSet<long>();
        long at = 0;
        while (at + HeaderSize <= size && RandomAccess.Read(file, header, at) == HeaderSize)
        {
            var length = BinaryPrimitives.ReadInt32LittleEndian(header[4..]);
            if (header[..4].SequenceEqual(Seal))
                return (records, at, true);
            if (!header[..4].SequenceEqual(Message) || length < 0 || at + HeaderSize + length > size)
                break;
            records.Add(at);
            at += HeaderSize + length;
        }
        return (records, at, false);
    }

    /// <summary>The queue id and the body's length in the header of the record at <paramref name="offset"/>.</summary>
    public static (string Id, int Length) HeaderAt(SafeFileHandle file, long offset)
    {
        Span<byte> header = stackalloc byte[HeaderSize];
        return RandomAccess.Read(file, header, offset) == HeaderSize
            ? (Encoding.ASCII.GetString(header[8..]).TrimEnd('\0'), BinaryPrimitives.ReadInt32LittleEndian(header[4..]))
            : ("", 0);
    }

    /// <summary>A tombstone: the deleted record's offset, then its complement, so a torn or zeroed tail of the file counts for nothing.</summary>
    public const int TombstoneSize = 16;

    public static void WriteTombstone(Span<byte> into, long offset)
    {
        BinaryPrimitives.WriteInt64LittleEndian(into, offset);
        BinaryPrimitives.WriteInt64LittleEndian(into[8..], ~offset);
    }

    /// <summary>The offsets the whole, well-formed tombstones in <paramref name="bytes"/> name.</summary>
    public static IEnumerable<long> Tombstones(byte[] bytes, int length)
    {
        for (var at = 0; at + TombstoneSize <= length; at += TombstoneSize)
        {
            var offset = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(at));
            if (offset >= 0 && BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(at + 8)) == ~offset)
                yield return offset;
        }
    }

    /// <summary>Ends the segment after its last whole record: the seal there, and nothing after it.</summary>
    public static void WriteSeal(SafeFileHandle file, long end, int records, bool fsync)
    {
        Span<byte> seal = stackalloc byte[HeaderSize];
        WriteHeader(seal, Seal, records, "");
        RandomAccess.Write(file, seal, end);
        RandomAccess.SetLength(file, end + HeaderSize);
        if (fsync)
            RandomAccess.FlushToDisk(file);
    }
}
