namespace Engine.Storage;

/// <summary>
/// A thread of its own for a loop that blocks in fsync (a group commit's flushes, the spool's appends): started at the
/// first <see cref="Signal"/>, it runs the loop once per signal. The pool's threads then never wait on the disk. The
/// pool cannot see a thread blocked in a system call: on a small machine two flushes under way left it one thread
/// or none for the sessions, the actors and the socket completions, and the CPU idle while work waited in its queue.
/// </summary>
internal sealed class FlushThread(string name, Action run) : IDisposable
{
    private readonly SemaphoreSlim _wake = new(0);
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
        _wake.Release();
    }

    private void Main()
    {
        while (true)
        {
            _wake.Wait();
            run(); // at the stop too: what was signalled before it still runs
            if (_stopped)
                return;
        }
    }

    /// <summary>Ends the thread after one more run, which takes whatever was signalled before.</summary>
    public void Dispose()
    {
        _stopped = true;
        _wake.Release();
    }
}
