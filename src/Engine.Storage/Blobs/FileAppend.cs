using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Engine.Storage.Blobs;

/// <summary>
/// Appends that the kernel puts at the end of the file (O_APPEND), so that threads and processes appending to one file
/// never write over each other. .NET's <see cref="FileMode.Append"/> is not that: it seeks to the end it sees when the
/// file is opened and writes there, so two that open the file at once write at the same place and one record is lost.
/// </summary>
internal static partial class FileAppend
{
    private const int GetFlags = 3; // F_GETFL
    private const int SetFlags = 4; // F_SETFL
    private const int Append = 0x400; // O_APPEND

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint Write(int fd, byte* bytes, nint count);

    /// <summary>Writes <paramref name="bytes"/> at the end of the file at <paramref name="path"/> (created when missing), whole.</summary>
    public static unsafe void Write(string path, ReadOnlySpan<byte> bytes)
    {
        using var file = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
        if (!OperatingSystem.IsLinux())
        {
            RandomAccess.Write(file, bytes, RandomAccess.GetLength(file));
            return;
        }
        var fd = (int)file.DangerousGetHandle();
        var flags = Fcntl(fd, GetFlags, 0);
        if (flags < 0 || Fcntl(fd, SetFlags, flags | Append) < 0)
            throw new IOException($"fcntl(O_APPEND) on {path} failed: errno {Marshal.GetLastPInvokeError()}");
        fixed (byte* start = bytes)
        {
            // One write(2): on a regular file it writes all of a few octets, at the end, under the file's lock.
            var written = Write(fd, start, bytes.Length);
            if (written != bytes.Length)
                throw new IOException($"append to {path} failed: {(written < 0 ? $"errno {Marshal.GetLastPInvokeError()}" : $"{written} of {bytes.Length} octets written")}");
        }
    }
}
