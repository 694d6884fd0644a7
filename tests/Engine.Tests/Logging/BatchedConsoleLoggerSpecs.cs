using System.Text;
using Engine.Host.Logging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace Engine.Tests.Logging;

/// <summary>The maillog writer: the console's own line format, many lines to one write.</summary>
public sealed class BatchedConsoleLoggerSpecs
{
    private sealed class CountingStream : MemoryStream
    {
        public int Writes { get; private set; }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            Writes++;
            base.Write(buffer.ToArray(), 0, buffer.Length);
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            Writes++;
            base.Write(buffer, offset, count);
        }
    }

    private static (BatchedConsoleLoggerProvider, CountingStream) Open(Action<ILoggingBuilder> console)
    {
        var services = new ServiceCollection().AddLogging(console).BuildServiceProvider();
        var output = new CountingStream();
        return (new BatchedConsoleLoggerProvider(services.GetServices<ConsoleFormatter>(), services.GetRequiredService<IOptions<ConsoleLoggerOptions>>(), output), output);
    }

    [Fact]
    public async Task Lines_logged_together_from_many_threads_are_written_whole_in_a_few_writes()
    {
        var (provider, output) = Open(b => b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; o.UseUtcTimestamp = true; }));
        var logger = provider.CreateLogger("Engine.Smtp");
        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 50; i++)
                logger.LogInformation(new EventId(1000 + t), "line {Thread} {Index}", t, i);
        })));
        provider.Dispose();

        var lines = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(200, lines.Length);
        Assert.All(lines, l => Assert.Matches(@"^\d\d:\d\d:\d\d info: Engine\.Smtp\[100[0-3]\] line [0-3] \d+$", l));
        for (var t = 0; t < 4; t++)
            Assert.Equal(Enumerable.Range(0, 50).Select(i => $"line {t} {i}"), lines.Where(l => l.Contains($"line {t} ", StringComparison.Ordinal)).Select(l => l[(l.IndexOf("line", StringComparison.Ordinal))..]));
        Assert.InRange(output.Writes, 1, 50); // one per line without the gathering
    }

    [Fact]
    public void The_json_format_is_the_console_loggers_and_a_line_after_the_stop_is_still_written()
    {
        var (provider, output) = Open(b => b.AddJsonConsole());
        var logger = provider.CreateLogger("Engine.Queue");
        logger.LogInformation(new EventId(1101), "{QueueId}: removed", "01M8GNQTR71X5XT3");
        provider.Dispose();
        logger.LogWarning("late");

        var lines = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        using var first = System.Text.Json.JsonDocument.Parse(lines[0]);
        Assert.Equal("01M8GNQTR71X5XT3: removed", first.RootElement.GetProperty("Message").GetString());
        Assert.Equal("01M8GNQTR71X5XT3", first.RootElement.GetProperty("State").GetProperty("QueueId").GetString());
        Assert.Contains("\"late\"", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public void A_batch_larger_than_the_writers_buffer_with_text_beyond_ascii_is_written_whole()
    {
        var (provider, output) = Open(b => b.AddSimpleConsole(o => o.SingleLine = true));
        var logger = provider.CreateLogger("Engine.Smtp");
        var subject = string.Concat(Enumerable.Repeat("Grüße 東京 ", 400)); // about 6 KB of UTF-8 a line
        for (var i = 0; i < 10; i++)
            logger.LogInformation("{Index} {Subject}", i, subject); // 60 KB, logged faster than the writer gathers
        provider.Dispose();

        var lines = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(10, lines.Length);
        for (var i = 0; i < 10; i++)
            Assert.EndsWith($"{i} {subject}", lines[i], StringComparison.Ordinal);
    }
}
