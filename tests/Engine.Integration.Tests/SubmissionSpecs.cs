using Engine.Integration.Tests.Support;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Engine.Integration.Tests;

/// <summary>
/// Submission (RFC 6409) on 587's listener (STARTTLS) and 465's (TLS from the first byte, RFC 8314): TLS and
/// AUTH before MAIL, the sender owned by the user (reject_sender_login_mismatch), relaying for the user.
/// </summary>
public sealed class SubmissionSpecs : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly TestCertificates _ca = new(TempDir.Create("submission-ca"));

    private async Task<EngineInstance> EngineAsync(string name)
    {
        var dataDir = Accounts.WithJane(name);
        var directory = Accounts.DirectoryOf(dataDir);
        directory.SetPassword("jane@campus.test", Engine.Storage.Accounts.PasswordHasher.Hash(Accounts.Password, Accounts.TestCost));
        directory.AddUser("bob@campus.test", "Bob", "{LOCKED}", 0);
        directory.AddAlias("info@campus.test", ["jane@campus.test"]);
        return await EngineInstance.StartInAsync(dataDir, TestCertificates.Setting(_ca.Issue("mx.test", "mx").Setting), "engine.smtp.mynetworks = []",
            "engine.smtp.auth-failure-delay = 100ms");
    }

    private static MimeMessage Message(string from, string to)
    {
        var message = new MimeMessage { Subject = "submitted", Body = new TextPart("plain") { Text = "x" } };
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse(to));
        return message;
    }

    private async Task<SmtpClient> LoggedInAsync(int port, SecureSocketOptions options)
    {
        var smtp = new SmtpClient { ServerCertificateValidationCallback = _ca.Validate, CheckCertificateRevocation = false, LocalDomain = "laptop.test" };
        await smtp.ConnectAsync("127.0.0.1", port, options, Ct);
        await smtp.AuthenticateAsync("jane@campus.test", Accounts.Password, Ct);
        return smtp;
    }

    [Fact]
    public async Task A_user_submits_over_587_with_STARTTLS_and_over_465_with_TLS_and_mail_goes_anywhere()
    {
        await using var engine = await EngineAsync("submission-ports");
        foreach (var (port, options) in new[] { (engine.SubmissionPort, SecureSocketOptions.StartTls), (engine.SubmissionTlsPort, SecureSocketOptions.SslOnConnect) })
        {
            using var smtp = await LoggedInAsync(port, options);
            await smtp.SendAsync(Message("jane@campus.test", "friend@elsewhere.test"), Ct);
            await smtp.DisconnectAsync(true, Ct);
        }
        Assert.Equal(2, (await engine.QueueAsync()).Count);
        var run = await Processes.RunAsync("openssl", ["s_client", "-connect", $"127.0.0.1:{engine.SubmissionTlsPort}", "-CAfile", _ca.AuthorityFile,
            "-verify_return_error", "-brief"], stdin: "QUIT\r\n");
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("Verification: OK", run.Error);
    }

    [Fact]
    public async Task Without_TLS_and_AUTH_nothing_is_submitted_not_even_for_a_local_user()
    {
        await using var engine = await EngineAsync("submission-refusals");
        await using (var plain = await RawSmtp.GreetedAsync(engine.SubmissionPort))
        {
            var ehlo = (await plain.CommandAsync("EHLO laptop.test")).Lines.Select(l => l[4..]).ToArray();
            Assert.Contains("STARTTLS", ehlo);
            Assert.DoesNotContain(ehlo, l => l.StartsWith("AUTH", StringComparison.Ordinal));
            Assert.Equal("530 5.7.0 Must issue a STARTTLS command first", (await plain.CommandAsync("MAIL FROM:<jane@campus.test>")).Last);
        }
        var lines = await _ca.AfterInjectionAsync(engine.SubmissionPort, "EHLO laptop.test\r\nSTARTTLS\r\n", "220 2.0.0",
            "EHLO laptop.test\r\nMAIL FROM:<jane@campus.test>\r\n", "530");
        Assert.Contains(lines, l => l.Length > 4 && l[4..].StartsWith("AUTH SCRAM-SHA-256", StringComparison.Ordinal));
        Assert.Equal("530 5.7.0 Authentication required", lines[^1]);
    }

    [Theory]
    [InlineData("jane@campus.test", true)]
    [InlineData("jane+lists@campus.test", true)]
    [InlineData("info@campus.test", true)] // an alias of jane
    [InlineData("", true)] // the null sender
    [InlineData("bob@campus.test", false)]
    [InlineData("jane@elsewhere.test", false)]
    public async Task The_sender_must_be_the_users_own_address_or_an_alias_of_it(string sender, bool owned)
    {
        await using var engine = await EngineAsync("submission-sender-" + (sender.Length == 0 ? "null" : sender.Split('@')[0].Replace("+", "-")));
        using var smtp = await LoggedInAsync(engine.SubmissionTlsPort, SecureSocketOptions.SslOnConnect);
        var message = Message("jane@campus.test", "friend@elsewhere.test");
        var envelope = sender.Length == 0 ? new MailboxAddress("", "") : MailboxAddress.Parse(sender);
        if (owned)
        {
            await smtp.SendAsync(message, envelope, [MailboxAddress.Parse("friend@elsewhere.test")], Ct);
            Assert.Single(await engine.QueueAsync());
        }
        else
        {
            var refused = await Assert.ThrowsAsync<SmtpCommandException>(() =>
                smtp.SendAsync(message, envelope, [MailboxAddress.Parse("friend@elsewhere.test")], Ct));
            Assert.Equal(SmtpErrorCode.SenderNotAccepted, refused.ErrorCode);
            Assert.Contains("not owned by user jane@campus.test", refused.Message);
        }
    }

    public void Dispose() => _ca.Dispose();

    [Fact]
    public async Task An_authenticated_user_is_held_to_its_message_and_recipient_rates()
    {
        await using var engine = await Accounts.WithSettingsAsync("submission-rates", ["engine.smtp.tls-auth-only = off",
            "engine.submission.message-rate-limit = 2", "engine.submission.recipient-rate-limit = 3"]);
        await using var smtp = await RawSmtp.GreetedAsync(engine.Port);
        await smtp.CommandAsync("EHLO laptop.test");
        var plain = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"\0jane@campus.test\0{Accounts.Password}"));
        Assert.Equal(235, (await smtp.CommandAsync("AUTH PLAIN " + plain)).Code);
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<jane@campus.test>")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<a@elsewhere.test>")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<b@elsewhere.test>")).Code);
        await smtp.CommandAsync("RSET");
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<jane@campus.test>")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<c@elsewhere.test>")).Code);
        Assert.Equal("450 4.7.1 Error: too many recipients from user jane@campus.test; try again later",
            (await smtp.CommandAsync("RCPT TO:<d@elsewhere.test>")).Last);
        await smtp.CommandAsync("RSET");
        Assert.Equal("450 4.7.1 Error: too much mail from user jane@campus.test; try again later",
            (await smtp.CommandAsync("MAIL FROM:<jane@campus.test>")).Last);

        // Mail from the Internet to the user is not counted against anyone.
        await using var mx = await RawSmtp.GreetedAsync(engine.Port);
        await mx.CommandAsync("EHLO client.test");
        Assert.Equal(250, (await mx.CommandAsync("MAIL FROM:<someone@client.test>")).Code);
        Assert.Equal(250, (await mx.CommandAsync("RCPT TO:<jane@campus.test>")).Code);
    }
}
