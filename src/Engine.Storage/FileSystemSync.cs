using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Engine.Storage;

/// <summary>
/// syncfs(2) as a group commit, one per file system: every caller that asks while a sync runs shares the next, so the
/// files many mailboxes wrote meanwhile reach the disk with one call and one cache flush of the device, where an fsync
/// per file and per directory cost a flush each. A caller's task completes when a sync that started after its call
/// has ended: what it wrote before the call, data and directory entries, is on disk (syncfs reports the file system's
/// write errors since Linux 5.8). Linux only (<see cref="Supported"/>).
/// </summary>
public static partial class FileSystemSync
{
    // The group of each directory asked for, found once (its file system's device); the first directory seen of each
    // file system stays open for the process's life, as the descriptor that group syncs through.
    private static readonly ConcurrentDictionary<string, GroupCommit> ByDirectory = new(StringComparer.Ordinal);
    private static readonly Dictionary<ulong, GroupCommit> ByDevice = [];
    private static readonly Lock Gate = new();

    public static bool Supported => OperatingSystem.IsLinux();

    /// <summary>Completes when a sync of the file system that holds <paramref name="directory"/>, started after this call, has ended.</summary>
    public static Task SyncAsync(string directory) => GroupOf(directory).FlushAsync();

    /// <summary>How many syncs the file system of <paramref name="directory"/> has had.</summary>
    public static long Syncs(string directory) => GroupOf(directory).Flushes;

    private static GroupCommit GroupOf(string directory)
    {
        if (ByDirectory.TryGetValue(directory, out var known))
            return known;
        lock (Gate)
        {
            if (ByDirectory.TryGetValue(directory, out known))
                return known;
            var fd = Native.open(directory, ORdOnly | ODirectory | OCloExec);
            if (fd < 0)
                throw new IOException($"open({directory}) failed: errno {Marshal.GetLastPInvokeError()}");
            GroupCommit? group = null;
            try
            {
                var device = DeviceOf(fd, directory);
                if (!ByDevice.TryGetValue(device, out group))
                {
                    var kept = fd;
                    ByDevice[device] = group = new GroupCommit(() =>
                    {
                        if (Native.syncfs(kept) != 0)
                            throw new IOException($"syncfs of the file system of {directory} failed: errno {Marshal.GetLastPInvokeError()}");
                    }, "Mail sync");
                    fd = -1; // kept: the group syncs through it
                }
                ByDirectory[directory] = group;
                return group;
            }
            finally
            {
                if (fd >= 0)
                    _ = Native.close(fd);
            }
        }
    }

    /// <summary>st_dev, the first field of struct stat on Linux (x86-64 and arm64 alike).</summary>
    private static unsafe ulong DeviceOf(int fd, string directory)
    {
        var stat = stackalloc byte[256];
        if (Native.fstat(fd, stat) != 0)
            throw new IOException($"fstat({directory}) failed: errno {Marshal.GetLastPInvokeError()}");
        return *(ulong*)stat;
    }

    private const int ORdOnly = 0;
    private const int ODirectory = 0x10000;
    private const int OCloExec = 0x80000;

    private static unsafe partial class Native
    {
        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int open(string path, int flags);

        [LibraryImport("libc", SetLastError = true)]
        internal static partial int fstat(int fd, byte* buffer);

        [LibraryImport("libc", SetLastError = true)]
        internal static partial int syncfs(int fd);

        [LibraryImport("libc", SetLastError = true)]
        internal static partial int close(int fd);
    }
}
