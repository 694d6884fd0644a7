using Akka.Actor;
using Engine.Messages.Cluster;
using Microsoft.Extensions.Logging;

namespace Engine.Web.Admin;

/// <summary>
/// The node's latest maillog lines that name a queued message (their <c>QueueId</c> field), kept in memory for
/// <c>enginectl log</c>: a ring of <c>engine.log.keep-lines</c> lines, so the oldest go first and nothing survives a
/// restart (the text or JSON log on standard output is the record; ship it for history). Only Information and above.
/// </summary>
public sealed class MaillogBuffer : ILoggerProvider
{
    private readonly MaillogLine?[] _ring;
    private readonly Lock _lock = new();
    private long _written;

    public MaillogBuffer(int capacity) => _ring = new MaillogLine?[Math.Max(capacity, 1)];

    public ILogger CreateLogger(string categoryName) => new Writer(this, categoryName);

    /// <summary>The lines kept about <paramref name="queueId"/>, oldest first.</summary>
    public IReadOnlyList<MaillogLine> Find(string queueId)
    {
        lock (_lock)
        {
            var count = (int)Math.Min(_written, _ring.Length);
            var found = new List<MaillogLine>();
            for (var i = _written - count; i < _written; i++)
            {
                if (_ring[i % _ring.Length] is { } line && line.QueueId == queueId)
                    found.Add(line);
            }
            return found;
        }
    }

    private void Add(MaillogLine line)
    {
        lock (_lock)
            _ring[_written++ % _ring.Length] = line;
    }

    public void Dispose()
    {
    }

    private sealed class Writer(MaillogBuffer buffer, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel) || state is not IReadOnlyList<KeyValuePair<string, object?>> fields)
                return;
            foreach (var (key, value) in fields)
            {
                if (key == "QueueId" && value?.ToString() is { Length: > 0 } id && id != "NOQUEUE")
                {
                    buffer.Add(new MaillogLine(DateTimeOffset.UtcNow, id, category, logLevel.ToString(), formatter(state, exception)));
                    return;
                }
            }
        }
    }
}

/// <summary>The node's "/user/maillog": answers <see cref="GetMaillog"/> from its <see cref="MaillogBuffer"/>.</summary>
public sealed class MaillogActor : ReceiveActor
{
    public const string Name = "maillog";

    public MaillogActor(MaillogBuffer buffer) =>
        Receive<GetMaillog>(get => Sender.Tell(new MaillogFound(Akka.Cluster.Cluster.Get(Context.System).SelfAddress.ToString(), buffer.Find(get.QueueId))));

    public static Props Props(MaillogBuffer buffer) => Akka.Actor.Props.Create(() => new MaillogActor(buffer));
}
