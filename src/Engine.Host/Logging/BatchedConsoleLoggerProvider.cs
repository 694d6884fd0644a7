using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace Engine.Host.Logging;

/// <summary>
/// The maillog on standard output in the console logger's own formats (its formatters write each line: simple on one
/// line, or JSON), but written by one thread that gathers what arrives for <see cref="Gather"/> and writes it in one
/// system call. The console logger's thread woke for every line, four or five a message, which cost a tenth of the
/// engine's CPU under load (perf/README.md). A line waits at most that long; a clean stop writes what is left.
/// </summary>
[ProviderAlias("Console")]
public sealed class BatchedConsoleLoggerProvider : ILoggerProvider, ISupportExternalScope
{
    public static readonly TimeSpan Gather = TimeSpan.FromMilliseconds(20);

    private readonly ConsoleFormatter _formatter;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly Stream _out;
    private byte[] _batch = new byte[16 * 1024]; // under the lock of _out
    private readonly Thread _writer;
    private int _idle; // 1 while the writer waits for a line
    private volatile bool _stopping;
    private IExternalScopeProvider? _scopes;

    public BatchedConsoleLoggerProvider(IEnumerable<ConsoleFormatter> formatters, IOptions<ConsoleLoggerOptions> options)
        : this(formatters, options, Console.OpenStandardOutput())
    {
    }

    public BatchedConsoleLoggerProvider(IEnumerable<ConsoleFormatter> formatters, IOptions<ConsoleLoggerOptions> options, Stream output)
    {
        _out = output;
        var name = options.Value.FormatterName ?? ConsoleFormatterNames.Simple;
        _formatter = formatters.FirstOrDefault(f => f.Name == name) ?? throw new InvalidOperationException($"no console formatter '{name}'");
        _writer = new Thread(WriteLoop) { IsBackground = true, Name = "Maillog writer" };
        _writer.Start();
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
        _stopping = true;
        _signal.Release();
        _writer.Join(TimeSpan.FromSeconds(5));
        WriteWaiting();
    }

    private void Enqueue(string line)
    {
        _lines.Enqueue(line);
        if (Interlocked.CompareExchange(ref _idle, 0, 1) == 1)
            _signal.Release();
        if (_stopping)
            WriteWaiting(); // after the writer's end
    }

    private void WriteLoop()
    {
        while (!_stopping)
        {
            Volatile.Write(ref _idle, 1);
            if (_lines.IsEmpty)
                _signal.Wait();
            Volatile.Write(ref _idle, 0);
            if (!_stopping)
                Thread.Sleep(Gather);
            WriteWaiting();
        }
    }

    private void WriteWaiting()
    {
        lock (_out)
        {
            // The lines go straight into one buffer kept for the next batch: no joined string, no new array.
            var length = 0;
            while (_lines.TryDequeue(out var line))
            {
                var most = Encoding.UTF8.GetMaxByteCount(line.Length);
                if (_batch.Length - length < most)
                    Array.Resize(ref _batch, Math.Max(_batch.Length * 2, length + most));
                length += Encoding.UTF8.GetBytes(line, _batch.AsSpan(length));
            }
            if (length == 0)
                return;
            try
            {
                _out.Write(_batch, 0, length);
                _out.Flush();
            }
            catch (IOException)
            {
                // standard output closed: nowhere to write
            }
        }
    }

    private sealed class Logger(BatchedConsoleLoggerProvider provider, string category) : ILogger
    {
        [ThreadStatic]
        private static StringWriter? t_line;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => provider._scopes?.Push(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
                return;
            var line = t_line ??= new StringWriter();
            var entry = new LogEntry<TState>(logLevel, category, eventId, state, exception, formatter);
            provider._formatter.Write(in entry, provider._scopes, line);
            var text = line.GetStringBuilder();
            if (text.Length == 0)
                return;
            provider.Enqueue(text.ToString());
            text.Clear();
        }
    }
}
