using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Engine.Storage.Blobs;

/// <summary>
/// What the spool asks of fcntl(2) that .NET does not offer.
/// <list type="bullet">
/// <item>An exclusive lock on a whole file, without waiting (<see cref="TryLock"/>): the spool segment a process writes
/// is locked while it writes it, so that another process (a restart, another node on the shared spool) seals only
/// segments no one writes. An open file description lock (F_OFD_SETLK, Linux): it goes with the handle, so closing it
/// or the process dying releases it, and it is apart from the flock(2) locks .NET takes for FileShare, so readers open
/// the file as usual.</item>
/// <item>Appends that the kernel puts at the end of the file (O_APPEND, <see cref="Append"/>), so that threads and
/// processes appending to one file never write over each other. .NET's <see cref="FileMode.Append"/> is not that: it
/// seeks to the end it sees when the file is opened and writes there, so two that open the file at once write at the
/// same place and one record is lost.</item>
/// </list>
/// </summary>
internal static partial class FileControl
{
    private const int OfdSetLock = 37; // F_OFD_SETLK
    private const short WriteLock = 1; // F_WRLCK

    [StructLayout(LayoutKind.Explicit, Size = 32)]
    private struct Flock
    {
        [FieldOffset(0)] public short Type;
        [FieldOffset(2)] public short Whence;
        [FieldOffset(8)] public long Start;
        [FieldOffset(16)] public long Length; // 0: to the end of the file, however long it grows
        [FieldOffset(24)] public int Pid; // 0, as open file description locks require
    }

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, ref Flock flock);

    private const int Again = 11; // EAGAIN
    private const int Denied = 13; // EACCES

    /// <summary>
    /// True when the lock is taken (or locks are not available here: not Linux), false when another holds it. Any
    /// other failure (a file system without locks) is an <see cref="IOException"/>: nothing may be written unlocked.
    /// </summary>
    public static bool TryLock(SafeFileHandle file)
    {
        if (!OperatingSystem.IsLinux())
            return true;
        var added = false;
        file.DangerousAddRef(ref added);
        try
        {
            var flock = new Flock { Type = WriteLock };
            if (Fcntl((int)file.DangerousGetHandle(), OfdSetLock, ref flock) == 0)
                return true;
            var error = Marshal.GetLastPInvokeError();
            return error is Again or Denied ? false : throw new IOException($"fcntl(F_OFD_SETLK) failed: errno {error}");
        }
        finally
        {
            if (added)
                file.DangerousRelease();
        }
    }

    private const int GetFlags = 3; // F_GETFL
    private const int SetFlags = 4; // F_SETFL
    // O_APPEND: 02000 on Linux, 0x8 on macOS and the BSDs.
    private static readonly int AppendFlag = OperatingSystem.IsLinux() ? 0x400 : 0x8;

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint Write(int fd, byte* bytes, nint count);

    /// <summary>
    /// Opens the file at <paramref name="path"/> (created when missing) for writes that the kernel puts at its end
    /// (O_APPEND): <see cref="Append"/> on the handle, by any number of threads, never writes over another's.
    /// </summary>
    public static SafeFileHandle OpenForAppend(string path)
    {
        var file = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
        if (OperatingSystem.IsWindows())
            return file; // Append writes at the length it sees: not atomic, but the engine runs on Unix
        var fd = (int)file.DangerousGetHandle();
        var flags = Fcntl(fd, GetFlags, 0);
        if (flags < 0 || Fcntl(fd, SetFlags, flags | AppendFlag) < 0)
        {
            var error = Marshal.GetLastPInvokeError();
            file.Dispose();
            throw new IOException($"fcntl(O_APPEND) on {path} failed: errno {error}");
        }
        return file;
    }

    /// <summary>Writes <paramref name="bytes"/> whole at the end of a file opened by <see cref="OpenForAppend"/>.</summary>
    public static unsafe void Append(SafeFileHandle file, ReadOnlySpan<byte> bytes)
    {
        if (OperatingSystem.IsWindows())
        {
            RandomAccess.Write(file, bytes, RandomAccess.GetLength(file));
            return;
        }
        var added = false;
        file.DangerousAddRef(ref added);
        try
        {
            fixed (byte* start = bytes)
            {
                // One write(2): on a regular file it writes all of a few octets, at the end, under the file's lock.
                var written = Write((int)file.DangerousGetHandle(), start, bytes.Length);
                if (written != bytes.Length)
                    throw new IOException($"append failed: {(written < 0 ? $"errno {Marshal.GetLastPInvokeError()}" : $"{written} of {bytes.Length} octets written")}");
            }
        }
        finally
        {
            if (added)
                file.DangerousRelease();
        }
    }
}
