using Engine.Integration.Tests.Support;

namespace Engine.Integration.Tests;

/// <summary>
/// The sendmail command as scripts and cron jobs use it: deploy/sendmail (the wrapper installed as
/// /usr/sbin/sendmail) running enginectl sendmail against a running engine, the mail ending in a Maildir.
/// </summary>
public sealed class SendmailSpecs
{
    private static string Wrapper(string name) => Path.Combine(Repository.Root, "deploy", name);

    /// <summary>A shell script, as cron runs one: the wrapper finds enginectl and the engine through the environment.</summary>
    private static Task<Processes.Result> ScriptAsync(int smtpPort, string script, string? stdin = null) =>
        Processes.RunAsync("/usr/bin/env", [$"ENGINECTL={Enginectl.Program}", $"ENGINE_SMTP=127.0.0.1:{smtpPort}", $"SENDMAIL={Wrapper("sendmail")}",
            "sh", "-c", script], TimeSpan.FromMinutes(1), stdin);

    [Fact]
    public async Task A_script_sends_through_sendmail_t_and_the_message_arrives_in_the_maildir_with_its_headers_completed()
    {
        var dataDir = Accounts.WithJane("sendmail");
        await using var engine = await EngineInstance.StartInAsync(dataDir);

        var run = await ScriptAsync(engine.Port, """
            printf 'To: Jane <jane@campus.test>\nBcc: bob@elsewhere.test\nSubject: nightly report\n\nall good\n.\nnot this\n' \
              | "$SENDMAIL" -t -oi -fcron@mx.test -F 'Cron Daemon' -odb
            echo "exit=$?"
            printf 'Subject: dots\n\n.\nafter the dot\n' | "$SENDMAIL" -i jane@campus.test
            """);
        Assert.True(run.Output.Contains("exit=0", StringComparison.Ordinal), run.Output + run.Error);

        var files = await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", 2);
        var messages = files.Select(f => MimeKit.MimeMessage.Load(f)).ToArray();
        var report = Assert.Single(messages, m => m.Subject == "nightly report");
        Assert.Equal("\"Cron Daemon\" <cron@mx.test>", report.From.ToString());
        Assert.Empty(report.Bcc); // removed before sending
        Assert.NotNull(report.MessageId);
        Assert.True(report.Date > DateTimeOffset.Now.AddMinutes(-5));
        Assert.Contains("all good\r\n.\r\nnot this", report.TextBody!.ReplaceLineEndings("\r\n"), StringComparison.Ordinal); // -oi: the dot is text
        var dots = Assert.Single(messages, m => m.Subject == "dots");
        Assert.Equal(".\r\nafter the dot\r\n", dots.TextBody!.ReplaceLineEndings("\r\n"));
        await engine.Logs.WaitForAsync(l => l.Contains("from=<cron@mx.test>", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Without_i_a_dot_line_ends_the_message_bs_speaks_smtp_and_exit_codes_are_sendmails()
    {
        var dataDir = Accounts.WithJane("sendmail-dot");
        await using var engine = await EngineInstance.StartInAsync(dataDir);

        var run = await ScriptAsync(engine.Port, """printf 'Subject: cut\n\nfirst\n.\nnever sent\n' | "$SENDMAIL" jane@campus.test; echo "exit=$?" """);
        Assert.Contains("exit=0", run.Output, StringComparison.Ordinal);
        var cut = MimeKit.MimeMessage.Load(Assert.Single(await Accounts.WaitForNewAsync(dataDir, "jane@campus.test", 1)));
        Assert.Equal("first\r\n", cut.TextBody!.ReplaceLineEndings("\r\n"));

        var session = await ScriptAsync(engine.Port, """ "$SENDMAIL" -bs """, "EHLO script.test\r\nQUIT\r\n");
        Assert.StartsWith("220 mx.test", session.Output, StringComparison.Ordinal);
        Assert.Contains("221 2.0.0 Bye", session.Output, StringComparison.Ordinal);

        var unreachable = await Processes.RunAsync("/usr/bin/env", [$"ENGINECTL={Enginectl.Program}", $"ENGINE_SMTP=127.0.0.1:{Loopback.FreePort()}",
            Wrapper("sendmail"), "jane@campus.test"], TimeSpan.FromMinutes(1), "Subject: x\n\ny\n");
        Assert.Equal(75, unreachable.ExitCode); // EX_TEMPFAIL: the caller tries again later
        var refused = await ScriptAsync(engine.Port, """printf 'Subject: x\n\ny\n' | "$SENDMAIL" nobody@campus.test; echo "exit=$?" """);
        Assert.Contains("exit=69", refused.Output, StringComparison.Ordinal); // EX_UNAVAILABLE: 550 5.1.1 at RCPT
        Assert.Contains("550", refused.Error, StringComparison.Ordinal);
        var usage = await ScriptAsync(engine.Port, """printf 'Subject: x\n\ny\n' | "$SENDMAIL"; echo "exit=$?" """);
        Assert.Contains("exit=64", usage.Output, StringComparison.Ordinal); // EX_USAGE: no recipients
    }
}
