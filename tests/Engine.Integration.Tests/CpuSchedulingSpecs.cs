using Engine.Integration.Tests.Support;

namespace Engine.Integration.Tests;

/// <summary>
/// engine.cpu-scheduling: the node's threads under SCHED_BATCH by default, read from the kernel's own account of
/// each thread (/proc/PID/task/TID/stat, field 41), after the node has taken mail (so its socket, thread-pool and
/// writer threads exist).
/// </summary>
public sealed class CpuSchedulingSpecs
{
    private const int SchedOther = 0;
    private const int SchedBatch = 3;

    [Fact]
    public async Task By_default_every_thread_of_the_node_runs_under_the_batch_policy()
    {
        await using var engine = await StartAndDeliverAsync("sched-batch");
        var policies = Policies(engine.Pid);
        Assert.True(policies.Count > 10, $"only {policies.Count} threads");
        Assert.All(policies, p => Assert.True(p.Policy == SchedBatch, $"thread {p.Tid} ({p.Name}) has policy {p.Policy}"));
        Assert.Contains(engine.Output, l => l.Contains("threads under SCHED_BATCH", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Inherit_leaves_the_threads_under_the_policy_the_process_was_started_with()
    {
        await using var engine = await StartAndDeliverAsync("sched-inherit", "engine.cpu-scheduling = inherit");
        var policies = Policies(engine.Pid);
        Assert.NotEmpty(policies);
        Assert.All(policies, p => Assert.True(p.Policy == SchedOther, $"thread {p.Tid} ({p.Name}) has policy {p.Policy}"));
        Assert.DoesNotContain(engine.Output, l => l.Contains("SCHED_BATCH", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Another_value_is_refused_at_start_with_the_setting_named()
    {
        var dataDir = Accounts.WithJane("sched-wrong");
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => EngineProcess.StartAsync(dataDir, "engine.cpu-scheduling = realtime"));
        Assert.Contains("engine.cpu-scheduling", e.Message, StringComparison.Ordinal);
        Assert.Contains("realtime", e.Message, StringComparison.Ordinal);
    }

    /// <summary>A node that has taken and delivered one message, so that its socket, pool and writer threads exist.</summary>
    private static async Task<EngineProcess> StartAndDeliverAsync(string name, params string[] settings)
    {
        var engine = await EngineProcess.StartAsync(Accounts.WithJane(name), settings);
        try
        {
            var id = await RawSmtp.SendMessageAsync(engine.Port, "a@client.test", "Subject: s\r\n\r\nhello", "jane@campus.test");
            await engine.WaitForOutputAsync($"{id}: removed", TimeSpan.FromSeconds(30));
            return engine;
        }
        catch
        {
            await engine.DisposeAsync(); // not left running when the test fails here
            throw;
        }
    }

    private static List<(int Tid, string Name, int Policy)> Policies(int pid)
    {
        var threads = new List<(int, string, int)>();
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(task, "stat"));
            }
            catch (IOException)
            {
                continue; // the thread ended meanwhile
            }
            // "TID (NAME) STATE ..." where NAME may hold spaces: fields are counted from after the last ')'.
            var close = stat.LastIndexOf(')');
            var name = stat[(stat.IndexOf('(') + 1)..close];
            var fields = stat[(close + 2)..].Split(' ');
            threads.Add((int.Parse(Path.GetFileName(task)), name, int.Parse(fields[41 - 3])));
        }
        return threads;
    }
}
