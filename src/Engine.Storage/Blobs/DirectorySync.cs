using System.Runtime.InteropServices;

namespace Engine.Storage.Blobs;

/// <summary>
/// fsync of a directory, so that a new file's name survives a crash (fsync of the file alone does not
/// promise that on every file system). Callers that ask while a sync runs share the next one: group commit.
/// </summary>
internal sealed partial class DirectorySync(string path)
{
    private readonly GroupCommit _commit = new(() => Fsync(path));

    public Task SyncAsync() => _commit.FlushAsync();

    private const int ORdOnly = 0;
    private const int ODirectory = 0x10000;

    internal static void Fsync(string directory)
    {
        if (!OperatingSystem.IsLinux())
            return;
        var fd = Native.open(directory, ORdOnly | ODirectory);
        if (fd < 0)
            throw new IOException($"open({directory}) failed: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            if (Native.fsync(fd) != 0)
                throw new IOException($"fsync({directory}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
        finally
        {
            _ = Native.close(fd);
        }
    }

    private static partial class Native
    {
        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int open(string path, int flags);

        [LibraryImport("libc", SetLastError = true)]
        internal static partial int fsync(int fd);

        [LibraryImport("libc", SetLastError = true)]
        internal static partial int close(int fd);
    }
}
