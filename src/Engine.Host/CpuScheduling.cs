using System.Runtime.InteropServices;
using Akka.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Engine.Host;

/// <summary>
/// The Linux scheduling policy of the node's threads (<c>engine.cpu-scheduling</c>).
/// <para>
/// <c>batch</c> (the default) puts every thread under <c>SCHED_BATCH</c>. The node is a throughput server: a message
/// crosses a socket's completion, a session actor, the spool's and the journal's writers and back, each a hand-off
/// from one thread to another. Under the normal policy each woken thread preempts the one that woke it, which then
/// waits to finish its turn; with batch the woken thread waits until the waker blocks, which it does a few
/// microseconds later. About half the context switches go (13 to 6 per accepted message on two cores). A woken
/// thread can wait for a time slice (a few milliseconds at most) instead: nothing in mail notices that.
/// </para>
/// <para><c>inherit</c> leaves the policy the process was started with (systemd's <c>CPUSchedulingPolicy=</c>, say).</para>
/// </summary>
internal static partial class CpuScheduling
{
    private const int SchedBatch = 3;

    /// <summary>Reads the setting; a value that is neither batch nor inherit is refused.</summary>
    public static bool BatchWanted(Config config)
    {
        var value = config.GetString("engine.cpu-scheduling", "batch").Trim().ToLowerInvariant();
        return value switch
        {
            "batch" => true,
            "inherit" => false,
            _ => throw new ConfigurationException($"engine.cpu-scheduling: '{value}' is not batch or inherit"),
        };
    }

    /// <summary>
    /// Puts every thread of the process under SCHED_BATCH. Threads made later inherit it from the thread that makes
    /// them, so calling this at the start and once the node runs covers them all. Unprivileged: a process may always
    /// move its own threads between the normal and batch policies. Does nothing off Linux.
    /// </summary>
    /// <returns>The number of threads that are now under the batch policy.</returns>
    public static int ApplyBatch()
    {
        if (!OperatingSystem.IsLinux())
            return 0;
        var count = 0;
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            var priority = 0; // the only priority SCHED_BATCH takes
            // A thread that ended meanwhile fails with ESRCH: nothing to do for it.
            if (int.TryParse(Path.GetFileName(task), out var tid) && SchedSetScheduler(tid, SchedBatch, ref priority) == 0)
                count++;
        }
        return count;
    }

    /// <summary>Says in the log what the node's threads run under.</summary>
    public static void Log(IHost host, int threads)
    {
        var log = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Engine.Host");
        if (threads > 0)
            BatchApplied(log, threads);
    }

    [LoggerMessage(EventId = 904, Level = LogLevel.Information, Message = "cpu scheduling: {Threads} threads under SCHED_BATCH (engine.cpu-scheduling = batch)")]
    private static partial void BatchApplied(ILogger log, int threads);

    [LibraryImport("libc", EntryPoint = "sched_setscheduler", SetLastError = true)]
    private static partial int SchedSetScheduler(int pid, int policy, ref int priority);
}
