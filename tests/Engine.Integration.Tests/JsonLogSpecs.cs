using System.Text.Json;
using Engine.Integration.Tests.Support;

namespace Engine.Integration.Tests;

/// <summary>engine.log.format = json: the maillog as one JSON object per line, for log shippers.</summary>
public sealed class JsonLogSpecs
{
    [Fact]
    public async Task The_json_log_mode_writes_each_maillog_line_as_an_object_with_its_fields()
    {
        var dataDir = Accounts.WithJane("json-log");
        await using var engine = await EngineProcess.StartAsync(dataDir, "engine.log.format = json");
        var id = await RawSmtp.SendMessageAsync(engine.Port, "a@client.test", "Subject: logged\r\n\r\nhello", "jane@campus.test");
        await engine.WaitForOutputAsync($"{id}: removed", TimeSpan.FromSeconds(30));

        var lines = engine.Output.ToArray();
        Assert.All(lines.Where(l => l.StartsWith('{')), l => JsonDocument.Parse(l).Dispose()); // every line is whole JSON
        var entries = lines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToArray();
        var queued = Assert.Single(entries, e => e.GetProperty("Message").GetString()!.StartsWith($"{id}: from=<a@client.test>", StringComparison.Ordinal));
        Assert.Equal("Engine.Smtp", queued.GetProperty("Category").GetString());
        Assert.Equal(id, queued.GetProperty("State").GetProperty("QueueId").GetString());
        Assert.EndsWith("Z", queued.GetProperty("Timestamp").GetString(), StringComparison.Ordinal);
        Assert.Contains(entries, e => e.GetProperty("Category").GetString() == "Engine.Queue"
            && e.GetProperty("Message").GetString()!.StartsWith($"{id}: to=<jane@campus.test>", StringComparison.Ordinal));
    }
}
