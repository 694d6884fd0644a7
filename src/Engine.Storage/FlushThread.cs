namespace Engine.Storage;

/// <summary>
/// A thread of its own for a loop that blocks in fsync (a group commit's flushes, the spool's appends): started at the
/// first <see cref="Signal"/>, it runs the loop once per signal. The pool's threads then never wait on the disk. The
/// pool cannot see a thread blocked in a system call: on a small machine two flushes under way left it one thread
/// or none for the sessions, the actors and the socket completions, and the CPU idle while work waited in its queue.
/// </summary>
internal sealed class FlushThread(string name, Action run) : IDisposable
{
    // No spinning before it blocks: a flush thread waits between passes many times a second, and each spin was a run of
    // sched_yield calls (about 10 a message under the accept benchmark with a SemaphoreSlim).
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);
    private int _signals;
    private readonly Lock _lock = new();
    private volatile Thread? _thread;
    private volatile bool _stopped;

    /// <summary>Runs the loop once more on the thread (after the run under way, if any); on a pool thread once disposed.</summary>
    public void Signal()
    {
        if (_stopped)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static loop => loop(), run, preferLocal: false);
            return;
        }
        if (_thread is null)
        {
            lock (_lock)
            {
                if (_thread is null)
                {
                    var thread = new Thread(Main) { IsBackground = true, Name = name };
                    thread.Start();
                    _thread = thread;
                }
            }
        }
        Wake();
    }

    private void Wake()
    {
        Interlocked.Increment(ref _signals);
        _wake.Set();
    }

    private void Main()
    {
        while (true)
        {
            _wake.Wait();
            _wake.Reset();
            // A signal after the Reset is counted here, or sets the event again for the next pass.
            if (Interlocked.Exchange(ref _signals, 0) == 0)
                continue;
            run(); // at the stop too: what was signalled before it still runs
            if (_stopped)
                return;
        }
    }

    /// <summary>Ends the thread after one more run, which takes whatever was signalled before.</summary>
    public void Dispose()
    {
        _stopped = true;
        Wake();
    }
}
