using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Hosting;
using Engine.Host;
using Engine.Messages.Queue;
using Engine.Queue;
using Engine.Smtp;
using Engine.Storage.Blobs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Engine.Integration.Tests.Support;

/// <summary>
/// A real engine host in this process: real sockets on an ephemeral loopback port, real SQLite and spool
/// in a temporary folder. Local domains are mx.test and local.test; the host calls itself mx.test.
/// </summary>
public sealed class EngineInstance : IAsyncDisposable
{
    private readonly IHost _host;

    private EngineInstance(IHost host, string dataDir, LogCollector logs)
    {
        _host = host;
        DataDir = dataDir;
        Logs = logs;
        // A node without a role has no listener for it: port 0.
        Port = host.Services.GetRequiredService<SmtpServer>().EndPoints.FirstOrDefault()?.Port ?? 0;
        Pop3Port = host.Services.GetRequiredService<Engine.Mailbox.Pop3.Pop3Server>().EndPoints.FirstOrDefault()?.Port ?? 0;
        ImapPort = host.Services.GetRequiredService<Engine.Mailbox.Imap.ImapServer>().EndPoints.FirstOrDefault()?.Port ?? 0;
        SubmissionPort = host.Services.GetRequiredService<Engine.Smtp.SmtpServer>().SubmissionEndPoints(false).FirstOrDefault()?.Port ?? 0;
        SubmissionTlsPort = host.Services.GetRequiredService<Engine.Smtp.SmtpServer>().SubmissionEndPoints(true).FirstOrDefault()?.Port ?? 0;
        ImapTlsPort = host.Services.GetRequiredService<Engine.Mailbox.Imap.ImapServer>().TlsEndPoints.FirstOrDefault()?.Port ?? 0;
        Pop3TlsPort = host.Services.GetRequiredService<Engine.Mailbox.Pop3.Pop3Server>().TlsEndPoints.FirstOrDefault()?.Port ?? 0;
        AdminPort = host.Services.GetRequiredService<Engine.Web.Admin.AdminServer>().EndPoints.FirstOrDefault()?.Port ?? 0;
    }

    /// <summary>The admin HTTP API (enginectl's server); its token is in <see cref="AdminTokenFile"/>.</summary>
    public int AdminPort { get; }

    public string AdminTokenFile => Path.Combine(DataDir, "admin.token");

    public string DataDir { get; }
    public int Port { get; }
    public int Pop3Port { get; }
    public int ImapPort { get; }
    /// <summary>The submission listeners: with STARTTLS (587's role) and with TLS from the first byte (465's).</summary>
    public int SubmissionPort { get; }
    public int SubmissionTlsPort { get; }
    /// <summary>The IMAP listener with TLS from the first byte (993's role).</summary>
    public int ImapTlsPort { get; }
    /// <summary>The POP3 listener with TLS from the first byte (995's role).</summary>
    public int Pop3TlsPort { get; }
    public LogCollector Logs { get; }
    public IServiceProvider Services => _host.Services;

    public static async Task<EngineInstance> StartAsync(params string[] settings) =>
        await StartInAsync(TempDir.Create("engine"), settings);

    /// <summary>
    /// Two nodes over Akka remoting on loopback, sharing one data folder (as a farm shares its storage): the
    /// second, with <paramref name="secondSettings"/>, joins the first; returned when both are Up.
    /// </summary>
    public static async Task<(EngineInstance First, EngineInstance Second)> StartTwoAsync(string dataDir, string[] settings, params string[] secondSettings)
    {
        var port = Loopback.FreePort();
        var first = await StartInAsync(dataDir, [.. settings, $"engine.cluster.port = {port}"]);
        var second = await StartInAsync(dataDir, [.. settings, .. secondSettings, $"engine.cluster.seed-nodes = [\"akka.tcp://engine@127.0.0.1:{port}\"]"]);
        var cluster = Akka.Cluster.Cluster.Get(second.Services.GetRequiredService<Akka.Actor.ActorSystem>());
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (cluster.State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up) < 2)
        {
            if (DateTime.UtcNow > deadline)
            {
                await second.DisposeAsync();
                await first.DisposeAsync();
                throw new TimeoutException("the second node did not join the first");
            }
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        return (first, second);
    }

    /// <summary>Starts on an existing data folder (a restart).</summary>
    public static Task<EngineInstance> StartInAsync(string dataDir, params string[] settings) => StartAsync(dataDir, null, settings);

    /// <summary>Starts with a configuration file, read again when the engine reloads (the test's settings stay on top of it).</summary>
    public static Task<EngineInstance> StartWithFileAsync(string file, params string[] settings) => StartAsync(TempDir.Create("engine"), file, settings);

    private static async Task<EngineInstance> StartAsync(string dataDir, string? file, string[] settings)
    {
        var all = new List<string>
        {
            $"engine.data-dir = \"{dataDir}\"",
            "engine.hostname = mx.test",
            "engine.smtp.listen = [\"127.0.0.1:0\"]",
            "engine.pop3.listen = [\"127.0.0.1:0\"]",
            "engine.imap.listen = [\"127.0.0.1:0\"]",
            "engine.imap.listen-tls = [\"127.0.0.1:0\"]",
            "engine.pop3.listen-tls = [\"127.0.0.1:0\"]",
            "engine.submission.listen = [\"127.0.0.1:0\"]",
            "engine.submission.listen-tls = [\"127.0.0.1:0\"]",
            "engine.web.listen = [\"127.0.0.1:0\"]",
            // Most tests log in over plain loopback; TlsSpecs checks the default (off).
            "engine.auth.plaintext-on-loopback = on",
            "engine.smtp.mydestination = [\"mx.test\", \"local.test\"]",
            // Most tests send to any address of mx.test; OpenRelaySpecs checks the default (postmaster only).
            "engine.smtp.local-recipients = [\"*\"]",
            // Tests never ask the system resolver: a closed loopback port answers at once.
            "engine.delivery.dns-servers = [\"127.0.0.1:9\"]", "engine.delivery.dns-timeout = 1s",
        };
        all.AddRange(settings);
        var logs = new LogCollector();
        var host = EngineHost.Build(EngineConfig.Load(file, all), logging =>
        {
            logging.ClearProviders();
            logging.AddProvider(logs);
            logging.SetMinimumLevel(LogLevel.Information);
        }, new Engine.Host.Configuration.ConfigSource(file, all));
        await host.StartAsync();
        return new EngineInstance(host, dataDir, logs);
    }

    /// <summary>Everything the queue partitions hold, asked of each partition through the shard region.</summary>
    public async Task<IReadOnlyList<QueuedMessage>> QueueAsync()
    {
        var region = await _host.Services.GetRequiredService<IRequiredActor<QueueRegionKey>>().GetAsync();
        var partitions = _host.Services.GetRequiredService<QueueSettings>().Partitions;
        var answers = await Task.WhenAll(Enumerable.Range(0, partitions).Select(p =>
            region.Ask<QueueReplies.MessagesResult>(new QueueCommands.GetMessages(p), TimeSpan.FromSeconds(30))));
        return answers.SelectMany(a => a.Messages).ToArray();
    }

    /// <summary>Sends an operator's command to every partition (or one) and adds up how many messages it changed.</summary>
    public async Task<int> QueueCommandAsync(Func<int, IQueuePartitionMessage> command, int? partition = null)
    {
        var region = await _host.Services.GetRequiredService<IRequiredActor<QueueRegionKey>>().GetAsync();
        var partitions = partition is { } p ? [p] : Enumerable.Range(0, _host.Services.GetRequiredService<QueueSettings>().Partitions);
        var answers = await Task.WhenAll(partitions.Select(p => region.Ask<QueueReplies.Changed>(command(p), TimeSpan.FromSeconds(30))));
        return answers.Sum(a => a.Count);
    }

    public int PartitionOf(string queueId) =>
        Engine.Primitives.QueueId.Parse(queueId).Partition(_host.Services.GetRequiredService<QueueSettings>().Partitions);

    public async Task<QueuedMessage> QueuedAsync(string queueId) =>
        (await QueueAsync()).Single(m => m.Id.Value == queueId);

    public byte[] Body(QueuedMessage message)
    {
        using var stream = _host.Services.GetRequiredService<IBlobStore>().OpenRead(message.BlobRef);
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    /// <summary>The body without the Received: header this engine put in front.</summary>
    public byte[] BodyAsSent(QueuedMessage message)
    {
        var body = Body(message);
        var text = System.Text.Encoding.Latin1.GetString(body);
        Assert.StartsWith("Received: from ", text);
        var end = text.IndexOf("\r\n", StringComparison.Ordinal);
        while (text[end + 2] == '\t')
            end = text.IndexOf("\r\n", end + 2, StringComparison.Ordinal);
        return body[(end + 2)..];
    }

    public Task StopAsync() => _host.StopAsync();

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _host.StopAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            _host.Dispose();
        }
    }
}

/// <summary>Keeps every log line, so tests can check the maillog.</summary>
public sealed class LogCollector : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyList<string> Lines => _lines.ToArray();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    public async Task<string> WaitForAsync(Func<string, bool> match, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (DateTime.UtcNow < deadline)
        {
            var line = _lines.FirstOrDefault(match);
            if (line is not null)
                return line;
            await Task.Delay(20);
        }
        throw new TimeoutException("no such log line; last lines:\n" + string.Join("\n", _lines.TakeLast(40)));
    }

    private sealed class Logger(LogCollector owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (category.StartsWith("Engine", StringComparison.Ordinal))
                owner._lines.Enqueue(formatter(state, exception));
            else if (logLevel >= LogLevel.Error) // Akka's: an actor that crashed, a dead letter is not one
                owner._lines.Enqueue($"error in {category}: {formatter(state, exception)} {exception?.GetType().Name}");
        }
    }
}

public static class TempDir
{
    public static string Create(string prefix)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }
}
