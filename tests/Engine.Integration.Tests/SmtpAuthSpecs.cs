using System.Text;
using Engine.Integration.Tests.Support;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Engine.Integration.Tests;

/// <summary>
/// SMTP AUTH (RFC 4954) on the MX over TLS: SCRAM-SHA-256, SCRAM-SHA-1, PLAIN and LOGIN with MailKit and swaks;
/// an authenticated client relays (permit_sasl_authenticated), others get 554 5.7.1; nothing offered in clear;
/// a wrong password gets 535 5.7.8 and never reaches the log.
/// </summary>
public sealed class SmtpAuthSpecs : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly TestCertificates _ca = new(TempDir.Create("smtp-auth-ca"));

    private Task<EngineInstance> EngineAsync(string name, params string[] settings) =>
        Accounts.WithSettingsAsync(name, [TestCertificates.Setting(_ca.Issue("mx.test", "mx").Setting), "engine.smtp.auth-failure-delay = 100ms",
            "engine.smtp.mynetworks = []", .. settings]); // loopback is not trusted here: only AUTH lets a client relay

    private static MimeMessage Message(string to, string subject)
    {
        var message = new MimeMessage { Subject = subject, Body = new TextPart("plain") { Text = "relayed" } };
        message.From.Add(MailboxAddress.Parse("jane@campus.test"));
        message.To.Add(MailboxAddress.Parse(to));
        return message;
    }

    private async Task<SmtpClient> ConnectAsync(EngineInstance engine)
    {
        var smtp = new SmtpClient { ServerCertificateValidationCallback = _ca.Validate, CheckCertificateRevocation = false, LocalDomain = "client.test" };
        await smtp.ConnectAsync("127.0.0.1", engine.Port, SecureSocketOptions.StartTls, Ct);
        return smtp;
    }

    [Theory]
    [InlineData("SCRAM-SHA-256")]
    [InlineData("SCRAM-SHA-1")]
    [InlineData("PLAIN")]
    [InlineData("LOGIN")]
    public async Task MailKit_authenticates_over_STARTTLS_and_may_then_relay(string mechanism)
    {
        await using var engine = await EngineAsync("smtp-auth-" + mechanism.ToLowerInvariant());
        using var smtp = await ConnectAsync(engine);
        Assert.Equal(["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "LOGIN"], smtp.AuthenticationMechanisms.ToArray());
        foreach (var other in smtp.AuthenticationMechanisms.Where(m => m != mechanism).ToArray())
            smtp.AuthenticationMechanisms.Remove(other);
        await smtp.AuthenticateAsync("jane@campus.test", Accounts.Password, Ct);
        await smtp.SendAsync(Message("friend@elsewhere.test", "relayed " + mechanism), Ct); // refused with 554 5.7.1 without AUTH
        await smtp.DisconnectAsync(true, Ct);

        Assert.Contains(engine.Logs.Lines, l => l.EndsWith($"sasl_method={mechanism}, sasl_username=jane@campus.test", StringComparison.Ordinal));
        var queued = (await engine.QueueAsync()).Single();
        Assert.Contains(" with ESMTPSA id ", Encoding.UTF8.GetString(engine.Body(queued)));
    }

    [Fact]
    public async Task Without_AUTH_relaying_is_refused_and_in_clear_AUTH_is_not_offered()
    {
        await using var engine = await EngineAsync("smtp-auth-none");
        await using (var plain = await RawSmtp.GreetedAsync(engine.Port))
        {
            Assert.DoesNotContain((await plain.CommandAsync("EHLO client.test")).Lines, l => l[4..].StartsWith("AUTH", StringComparison.Ordinal));
            Assert.Equal("503 5.5.1 Error: authentication not enabled", (await plain.CommandAsync("AUTH PLAIN AGphbmVAY2FtcHVzLnRlc3QAY29ycmVjdCBob3JzZQ==")).Last);
            await plain.CommandAsync("MAIL FROM:<jane@campus.test>");
            Assert.StartsWith("554 5.7.1", (await plain.CommandAsync("RCPT TO:<friend@elsewhere.test>")).Last, StringComparison.Ordinal);
        }
        using var smtp = await ConnectAsync(engine); // over TLS but not authenticated: no relaying either
        var refused = await Assert.ThrowsAsync<SmtpCommandException>(() => smtp.SendAsync(Message("friend@elsewhere.test", "x"), Ct));
        Assert.Equal(SmtpStatusCode.TransactionFailed, refused.StatusCode);
    }

    [Fact]
    public async Task A_wrong_password_gets_535_and_is_never_logged()
    {
        await using var engine = await EngineAsync("smtp-auth-wrong");
        foreach (var mechanism in new[] { "SCRAM-SHA-256", "PLAIN" })
        {
            using var smtp = await ConnectAsync(engine);
            foreach (var other in smtp.AuthenticationMechanisms.Where(m => m != mechanism).ToArray())
                smtp.AuthenticationMechanisms.Remove(other);
            var failed = await Assert.ThrowsAsync<AuthenticationException>(() => smtp.AuthenticateAsync("jane@campus.test", "wrong horse battery", Ct));
            Assert.Contains("authentication failed", failed.Message, StringComparison.OrdinalIgnoreCase);
            await smtp.DisconnectAsync(true, Ct);
        }
        Assert.Equal(2, engine.Logs.Lines.Count(l => l.Contains("SASL authentication failed", StringComparison.Ordinal)));
        Assert.DoesNotContain(engine.Logs.Lines, l => l.Contains("wrong horse", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("PLAIN")]
    [InlineData("LOGIN")]
    public async Task Swaks_authenticates_over_TLS_and_relays(string mechanism)
    {
        await using var engine = await EngineAsync("smtp-auth-swaks-" + mechanism.ToLowerInvariant());
        var run = await Processes.RunAsync("swaks", ["--server", $"127.0.0.1:{engine.Port}", "--helo", "client.test", "--from", "jane@campus.test",
            "--to", "friend@elsewhere.test", "--tls", "--tls-verify", "--tls-ca-path", _ca.AuthorityFile, "--auth", mechanism,
            "--auth-user", "jane@campus.test", "--auth-password", Accounts.Password, "--timeout", "30"]);
        Assert.True(run.ExitCode == 0, run.Output + run.Error);
        Assert.Contains("235 2.7.0 Authentication successful", run.Output);
        Assert.Single(await engine.QueueAsync());
    }

    [Fact]
    public async Task The_exchange_refuses_bad_base64_a_cancel_and_a_second_AUTH()
    {
        await using var engine = await EngineAsync("smtp-auth-protocol");
        var lines = await _ca.AfterInjectionAsync(engine.Port, "EHLO client.test\r\nSTARTTLS\r\n", "220 2.0.0", "EHLO client.test\r\nAUTH LOGIN\r\n", "334");
        Assert.Equal("334 VXNlcm5hbWU6", lines[^1]); // "Username:"
        lines = await _ca.AfterInjectionAsync(engine.Port, "EHLO client.test\r\nSTARTTLS\r\n", "220 2.0.0", "EHLO client.test\r\nAUTH LOGIN\r\n*\r\n", "501");
        Assert.Equal("501 5.7.0 Authentication aborted", lines[^1]);
        lines = await _ca.AfterInjectionAsync(engine.Port, "EHLO client.test\r\nSTARTTLS\r\n", "220 2.0.0", "EHLO client.test\r\nAUTH PLAIN %%%\r\n", "501");
        Assert.Equal("501 5.5.2 Error: cannot decode the initial response", lines[^1]);
        lines = await _ca.AfterInjectionAsync(engine.Port, "EHLO client.test\r\nSTARTTLS\r\n", "220 2.0.0",
            "EHLO client.test\r\nAUTH PLAIN AGphbmVAY2FtcHVzLnRlc3QAY29ycmVjdCBob3JzZQ==\r\nAUTH PLAIN AGphbmVAY2FtcHVzLnRlc3QAY29ycmVjdCBob3JzZQ==\r\n", "503");
        Assert.Contains("235 2.7.0 Authentication successful", lines);
        Assert.Equal("503 5.5.1 Error: already authenticated", lines[^1]);
    }

    public void Dispose() => _ca.Dispose();
}
