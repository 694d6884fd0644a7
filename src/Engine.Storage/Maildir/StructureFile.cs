using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Engine.Storage.Maildir;

/// <summary>
/// A folder's cache of what IMAP clients ask of every message and a server would otherwise parse each time:
/// ENVELOPE, BODY and BODYSTRUCTURE (the role of Dovecot's <c>dovecot.index.cache</c>). One file per folder,
/// <c>engine.cache</c> beside new/ and cur/, that only the mailbox entity writes: a record is appended when a
/// message arrives, and the index keeps its offset with the message. A record is
/// <c>[magic 4][uid 8][length 4][three strings, each a 4-byte length and UTF-8]</c>. A reader checks the magic
/// and the UID, so an offset that does not fit (a write lost in a crash, a compaction the session has not
/// heard of) reads as a miss, and the message is parsed instead. Nothing here is fsynced: it can be rebuilt.
/// </summary>
public static class StructureFile
{
    public const string Name = "engine.cache";

    private const uint Magic = 0x454E4331; // "ENC1"
    private const int HeaderSize = 16;
    private const int MaxRecord = 4 * 1024 * 1024;

    /// <summary>What a FETCH of ENVELOPE, BODY or BODYSTRUCTURE answers, as IMAP text.</summary>
    public sealed record Entry(string Envelope, string Body, string BodyStructure);

    public static string PathIn(string folderPath) => Path.Combine(folderPath, Name);

    /// <summary>Appends the record of a message to the folder's file (created when missing); its offset.</summary>
    public static long Append(string folderPath, long uid, Entry entry)
    {
        using var file = new FileStream(PathIn(folderPath), FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, 0);
        var offset = file.Position;
        file.Write(Encode(uid, entry));
        return offset;
    }

    private static byte[] Encode(long uid, Entry entry)
    {
        var strings = new[] { entry.Envelope, entry.Body, entry.BodyStructure }.Select(Encoding.UTF8.GetBytes).ToArray();
        var record = new byte[HeaderSize + strings.Sum(s => 4 + s.Length)];
        BinaryPrimitives.WriteUInt32LittleEndian(record, Magic);
        BinaryPrimitives.WriteInt64LittleEndian(record.AsSpan(4), uid);
        BinaryPrimitives.WriteInt32LittleEndian(record.AsSpan(12), record.Length - HeaderSize);
        var at = HeaderSize;
        foreach (var s in strings)
        {
            BinaryPrimitives.WriteInt32LittleEndian(record.AsSpan(at), s.Length);
            s.CopyTo(record, at + 4);
            at += 4 + s.Length;
        }
        return record;
    }

    /// <summary>
    /// Writes the records of <paramref name="live"/> (UID and offset in the current file) to a new file beside it, in
    /// that order, and fsyncs it; the new offsets (null where a record could not be read). <see cref="Replace"/> puts it in place.
    /// </summary>
    public static IReadOnlyList<long?> Rewrite(string folderPath, IReadOnlyList<(long Uid, long Offset)> live)
    {
        var offsets = new List<long?>(live.Count);
        using var reader = new Reader(folderPath);
        using var file = new FileStream(PathIn(folderPath) + ".new", FileMode.Create, FileAccess.Write, FileShare.None, 64 * 1024);
        foreach (var (uid, offset) in live)
        {
            if (reader.Read(offset, uid) is not { } entry)
            {
                offsets.Add(null);
                continue;
            }
            offsets.Add(file.Position);
            file.Write(Encode(uid, entry));
        }
        file.Flush(flushToDisk: true);
        return offsets;
    }

    /// <summary>The file <see cref="Rewrite"/> wrote takes the place of the folder's file.</summary>
    public static void Replace(string folderPath)
    {
        if (File.Exists(PathIn(folderPath) + ".new"))
            File.Move(PathIn(folderPath) + ".new", PathIn(folderPath), overwrite: true);
    }

    /// <summary>Reads records of one folder's file: open it once for the messages of one command.</summary>
    public sealed class Reader(string folderPath) : IDisposable
    {
        private SafeFileHandle? _handle;
        private bool _opened;

        /// <summary>The record of <paramref name="uid"/> at <paramref name="offset"/>, or null when it is not there.</summary>
        public Entry? Read(long offset, long uid)
        {
            if (!_opened)
            {
                _opened = true;
                try
                {
                    _handle = File.OpenHandle(PathIn(folderPath), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    return null;
                }
            }
            if (_handle is null || offset < 0)
                return null;
            try
            {
                Span<byte> header = stackalloc byte[HeaderSize];
                if (RandomAccess.Read(_handle, header, offset) != HeaderSize || BinaryPrimitives.ReadUInt32LittleEndian(header) != Magic
                    || BinaryPrimitives.ReadInt64LittleEndian(header[4..]) != uid)
                    return null;
                var length = BinaryPrimitives.ReadInt32LittleEndian(header[12..]);
                if (length is < 12 or > MaxRecord)
                    return null;
                var payload = new byte[length];
                if (RandomAccess.Read(_handle, payload, offset + HeaderSize) != length)
                    return null;
                var strings = new string[3];
                var at = 0;
                for (var i = 0; i < strings.Length; i++)
                {
                    if (at + 4 > payload.Length)
                        return null;
                    var size = BinaryPrimitives.ReadInt32LittleEndian(payload.AsSpan(at));
                    if (size < 0 || at + 4 + size > payload.Length)
                        return null;
                    strings[i] = Encoding.UTF8.GetString(payload, at + 4, size);
                    at += 4 + size;
                }
                return new Entry(strings[0], strings[1], strings[2]);
            }
            catch (IOException)
            {
                return null;
            }
        }

        public void Dispose() => _handle?.Dispose();
    }
}
