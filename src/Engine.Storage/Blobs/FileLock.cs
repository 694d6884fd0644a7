using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Engine.Storage.Blobs;

/// <summary>
/// An exclusive lock on a whole file, without waiting: the spool segment a process writes is locked while it writes
/// it, so that another process (a restart, another node on the shared spool) seals only segments no one writes. An
/// open file description lock (fcntl F_OFD_SETLK, Linux): it goes with the handle, so closing it or the process dying
/// releases it, and it is apart from the flock(2) locks .NET takes for FileShare, so readers open the file as usual.
/// </summary>
internal static partial class FileLock
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
}
