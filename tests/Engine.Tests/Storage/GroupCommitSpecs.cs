using Engine.Storage;

namespace Engine.Tests.Storage;

/// <summary>One flush for all who ask while another runs; each caller's flush starts after its call.</summary>
public sealed class GroupCommitSpecs
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    /// <summary>A flush that waits, each time it runs, until the test lets it end.</summary>
    private sealed class GatedFlush
    {
        private readonly SemaphoreSlim _started = new(0);
        private readonly SemaphoreSlim _release = new(0);
        public int Runs;

        public void Flush()
        {
            Interlocked.Increment(ref Runs);
            _started.Release();
            if (!_release.Wait(Wait))
                throw new TimeoutException("the test did not release the flush");
        }

        public async Task StartedAsync() => Assert.True(await _started.WaitAsync(Wait), "no flush started");

        public void Release() => _release.Release();
    }

    [Fact]
    public async Task Callers_that_ask_during_a_flush_share_the_next_one_and_not_the_running_one()
    {
        var gate = new GatedFlush();
        using var commit = new GroupCommit(gate.Flush);
        var first = commit.FlushAsync();
        await gate.StartedAsync();
        var later = Enumerable.Range(0, 10).Select(_ => commit.FlushAsync()).ToArray();

        gate.Release(); // the first flush ends: it was running before the later calls, so it does not count for them
        await first.WaitAsync(Wait, TestContext.Current.CancellationToken);
        await gate.StartedAsync();
        Assert.All(later, t => Assert.False(t.IsCompleted));

        gate.Release();
        await Task.WhenAll(later).WaitAsync(Wait, TestContext.Current.CancellationToken);
        Assert.Equal(2, gate.Runs);
        Assert.Equal(2, commit.Flushes);
    }

    [Fact]
    public async Task Flushes_run_on_the_group_s_own_thread_and_never_on_a_pool_thread()
    {
        var threads = new List<(bool Pool, string? Name, int Id)>();
        using var commit = new GroupCommit(() =>
        {
            lock (threads)
                threads.Add((Thread.CurrentThread.IsThreadPoolThread, Thread.CurrentThread.Name, Environment.CurrentManagedThreadId));
        }, "Test commit");
        for (var i = 0; i < 3; i++)
            await commit.FlushAsync().WaitAsync(Wait, TestContext.Current.CancellationToken);
        await commit.WhenFlushedAsync(TimeSpan.FromMilliseconds(10)).WaitAsync(Wait, TestContext.Current.CancellationToken);

        Assert.Equal(4, threads.Count);
        Assert.All(threads, t => Assert.False(t.Pool));
        Assert.All(threads, t => Assert.Equal("Test commit", t.Name));
        Assert.Single(threads.Select(t => t.Id).Distinct()); // one thread, kept between flushes
    }

    [Fact]
    public async Task A_flush_asked_after_the_dispose_still_runs()
    {
        var runs = 0;
        var commit = new GroupCommit(() => Interlocked.Increment(ref runs), "Test commit");
        await commit.FlushAsync().WaitAsync(Wait, TestContext.Current.CancellationToken); // the group's thread is running
        commit.Dispose(); // the thread ends; a late caller (an actor still finishing at a stop) must not wait forever

        await commit.FlushAsync().WaitAsync(Wait, TestContext.Current.CancellationToken);
        await commit.FlushAsync().WaitAsync(Wait, TestContext.Current.CancellationToken);
        Assert.Equal(3, runs);
    }

    [Fact]
    public async Task A_waiter_that_does_not_ask_starts_no_flush_but_rides_on_the_next_one_asked_for()
    {
        var runs = 0;
        using var commit = new GroupCommit(() => Interlocked.Increment(ref runs));
        var lazy = commit.WhenFlushedAsync(TimeSpan.FromHours(1));
        await Task.Delay(200, TestContext.Current.CancellationToken);
        Assert.False(lazy.IsCompleted);
        Assert.Equal(0, runs);

        await commit.FlushAsync().WaitAsync(Wait, TestContext.Current.CancellationToken);
        await lazy.WaitAsync(Wait, TestContext.Current.CancellationToken);
        Assert.Equal(1, runs);
    }

    [Fact]
    public async Task A_waiter_that_does_not_ask_is_flushed_after_its_time_when_nobody_asks()
    {
        var runs = 0;
        using var commit = new GroupCommit(() => Interlocked.Increment(ref runs));
        var lazy = commit.WhenFlushedAsync(TimeSpan.FromMilliseconds(100));
        var second = commit.WhenFlushedAsync(TimeSpan.FromMilliseconds(100));
        await Task.WhenAll(lazy, second).WaitAsync(Wait, TestContext.Current.CancellationToken);
        Assert.Equal(1, runs);
    }

    [Fact]
    public async Task A_waiter_that_comes_during_a_running_flush_waits_for_a_later_one()
    {
        var gate = new GatedFlush();
        using var commit = new GroupCommit(gate.Flush);
        var first = commit.FlushAsync();
        await gate.StartedAsync();
        var lazy = commit.WhenFlushedAsync(TimeSpan.FromMilliseconds(100));
        gate.Release();
        await first.WaitAsync(Wait, TestContext.Current.CancellationToken);
        Assert.False(lazy.IsCompleted);

        await gate.StartedAsync(); // its own, after its time
        Assert.False(lazy.IsCompleted);
        gate.Release();
        await lazy.WaitAsync(Wait, TestContext.Current.CancellationToken);
        Assert.Equal(2, gate.Runs);
    }

    [Fact]
    public async Task A_failed_flush_fails_its_callers_and_the_next_one_runs_again()
    {
        var fail = true;
        using var commit = new GroupCommit(() =>
        {
            if (fail)
                throw new IOException("EIO");
        });
        var e = await Assert.ThrowsAsync<IOException>(() => commit.FlushAsync().WaitAsync(Wait, TestContext.Current.CancellationToken));
        Assert.Equal("EIO", e.Message);
        fail = false;
        await commit.FlushAsync().WaitAsync(Wait, TestContext.Current.CancellationToken);
        Assert.Equal(1, commit.Flushes);
    }
}
