using Engine.Web.Admin;
using Microsoft.Extensions.Logging;

namespace Engine.Tests.Web;

public sealed partial class MaillogBufferSpecs
{
    [LoggerMessage(1, LogLevel.Information, "{QueueId}: step {Step}")]
    private static partial void Step(ILogger logger, string queueId, int step);

    [LoggerMessage(2, LogLevel.Debug, "{QueueId}: detail")]
    private static partial void Detail(ILogger logger, string queueId);

    [LoggerMessage(3, LogLevel.Information, "connect from {Client}")]
    private static partial void Connect(ILogger logger, string client);

    [Fact]
    public void It_keeps_the_latest_lines_naming_a_queue_id_and_finds_them_oldest_first()
    {
        using var buffer = new MaillogBuffer(4);
        var log = buffer.CreateLogger("Engine.Queue");
        Step(log, "A", 1);
        Connect(log, "unknown[192.0.2.1]"); // no queue id: not kept
        Detail(log, "A"); // below Information: not kept
        Step(log, "NOQUEUE", 0); // a refusal before a queue id: not kept
        Step(log, "B", 1);
        Step(log, "A", 2);
        Assert.Equal(["A: step 1", "A: step 2"], buffer.Find("A").Select(l => l.Text));
        Assert.All(buffer.Find("A"), l => Assert.Equal(("A", "Engine.Queue", "Information"), (l.QueueId, l.Category, l.Level)));

        // Four lines fit: the oldest goes first.
        Step(log, "B", 2);
        Step(log, "A", 3);
        Step(log, "B", 3);
        Assert.Equal(["A: step 2", "A: step 3"], buffer.Find("A").Select(l => l.Text));
        Assert.Equal(["B: step 2", "B: step 3"], buffer.Find("B").Select(l => l.Text));
        Assert.Empty(buffer.Find("C"));
    }
}
