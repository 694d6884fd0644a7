using System.Text;
using Engine.Integration.Tests.Support;
using Engine.Messages.Queue;

namespace Engine.Integration.Tests;

/// <summary>header_checks and body_checks on a running engine: swaks sends, the replies and maillog lines are Postfix's.</summary>
public sealed class ContentCheckSpecs
{
    private static Task<Processes.Result> SwaksAsync(EngineInstance engine, string header, string body) =>
        Processes.RunAsync("swaks", ["--server", $"127.0.0.1:{engine.Port}", "--helo", "client.test", "--from", "a@client.test",
            "--to", "bob@elsewhere.test", "--header", header, "--body", body, "--timeout", "30"]);

    [Fact]
    public async Task A_header_check_refuses_after_the_text_a_body_check_holds_and_ignored_headers_are_not_spooled()
    {
        var dir = TempDir.Create("content-checks");
        var headers = Path.Combine(dir, "header_checks");
        await File.WriteAllTextAsync(headers, "/^Subject:.*viagra/ REJECT no such offers here\n/^X-Junk:/ IGNORE\n", TestContext.Current.CancellationToken);
        var body = Path.Combine(dir, "body_checks");
        await File.WriteAllTextAsync(body, "/look at this/ HOLD suspicious body\n", TestContext.Current.CancellationToken);
        await using var engine = await Accounts.WithSettingsAsync("content-checks", [$"engine.smtp.header-checks = \"regexp:{headers}\"",
            $"engine.smtp.body-checks = \"pcre:{body}\""]);

        var refused = await SwaksAsync(engine, "Subject: cheap VIAGRA", "hello");
        Assert.Contains("<** 550 5.7.1 no such offers here", refused.Output);
        await engine.Logs.WaitForAsync(l => l.EndsWith(": reject: header Subject: cheap VIAGRA from unknown[127.0.0.1]; from=<a@client.test> "
            + "to=<bob@elsewhere.test> proto=ESMTP helo=<client.test>: 5.7.1 no such offers here", StringComparison.Ordinal));

        var held = await SwaksAsync(engine, "X-Junk: drop me", "please look at this one");
        Assert.True(held.ExitCode == 0, held.Output + held.Error);
        var message = Assert.Single(await engine.QueueAsync());
        Assert.Equal(QueueState.Hold, message.State);
        var text = Encoding.UTF8.GetString(engine.Body(message));
        Assert.DoesNotContain("X-Junk", text);
        Assert.Contains("please look at this one", text);
        Assert.Equal(text.Length, (int)message.Envelope.Size - "X-Junk: drop me\r\n".Length); // the envelope keeps the size the client sent
    }
}
