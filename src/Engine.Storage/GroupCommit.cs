namespace Engine.Storage;

/// <summary>
/// One fsync (or any flush) for every caller that asks while another runs: group commit. A caller's task completes
/// when a flush that started after its call has ended, so everything it wrote before the call is on disk. Callers that
/// do not need the flush soon can ride on the next one instead (<see cref="WhenFlushedAsync"/>). The flushes run on a
/// thread of the group's own (<see cref="FlushThread"/>), never on the pool's.
/// </summary>
public sealed class GroupCommit : IDisposable
{
    private readonly Action _flush;
    private readonly Lock _lock = new();
    private Timer? _timer; // made at the first WhenFlushedAsync
    private TaskCompletionSource? _pending;
    private bool _eager; // someone waiting for the next flush asked for it
    private bool _running;
    private bool _timerArmed;

    private readonly FlushThread _thread;

    /// <summary>Flushes with <paramref name="flush"/> on a thread of its own, named <paramref name="threadName"/>.</summary>
    public GroupCommit(Action flush, string threadName = "Group commit")
    {
        _flush = flush;
        _thread = new FlushThread(threadName, Loop);
    }

    /// <summary>How many flushes have run.</summary>
    public long Flushes => Interlocked.Read(ref _flushes);

    private long _flushes;

    /// <summary>Completes when a flush that started after this call has ended (faulted when it failed).</summary>
    public Task FlushAsync()
    {
        lock (_lock)
        {
            var task = Pending();
            _eager = true;
            Start();
            return task;
        }
    }

    /// <summary>
    /// Completes with the next flush that someone else asks for, or at the latest one started <paramref name="within"/>
    /// from now: for what must wait for the disk but not hurry it (a removal before the file it frees is deleted).
    /// </summary>
    public Task WhenFlushedAsync(TimeSpan within)
    {
        lock (_lock)
        {
            var task = Pending();
            if (!_timerArmed)
            {
                _timerArmed = true;
                _timer ??= new Timer(static self => ((GroupCommit)self!).OnTimer(), this, Timeout.Infinite, Timeout.Infinite);
                _timer.Change(within, Timeout.InfiniteTimeSpan);
            }
            return task;
        }
    }

    public void Dispose()
    {
        _timer?.Dispose();
        _thread.Dispose();
    }

    private Task Pending()
    {
        _pending ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return _pending.Task;
    }

    private void Start()
    {
        if (_running)
            return;
        _running = true;
        _thread.Signal();
    }

    private void OnTimer()
    {
        lock (_lock)
        {
            _timerArmed = false;
            if (_pending is null)
                return; // flushed meanwhile
            _eager = true;
            Start();
        }
    }

    private void Loop()
    {
        while (true)
        {
            TaskCompletionSource waiting;
            lock (_lock)
            {
                if (_pending is null || !_eager)
                {
                    _running = false;
                    return;
                }
                waiting = _pending;
                _pending = null;
                _eager = false;
            }
            try
            {
                _flush();
                Interlocked.Increment(ref _flushes);
                waiting.SetResult();
            }
            catch (Exception e)
            {
                waiting.SetException(e);
            }
        }
    }
}
