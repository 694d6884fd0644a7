using Engine.Integration.Tests.Support;
using Engine.Storage.Accounts;
using MailKit.Net.Imap;
using MailKit.Net.Pop3;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.DependencyInjection;

namespace Engine.Integration.Tests;

/// <summary>
/// CRAM-MD5 (RFC 2195), for a site that turns it on for old clients: a user without a CRAM-MD5 key gets one at
/// the next login with the password (as imported hashes are made again), then MailKit's CRAM-MD5 passes on
/// SMTP, IMAP and POP3, and swaks's too. Off by default: SmtpAuthSpecs checks the mechanisms offered.
/// </summary>
public sealed class CramMd5Specs
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_user_gets_a_cram_md5_key_at_a_password_login_and_then_passes_cram_md5_on_every_protocol()
    {
        await using var engine = await Accounts.WithSettingsAsync("cram-md5", ["engine.auth.mechanisms = [SCRAM-SHA-256, PLAIN, CRAM-MD5]",
            "engine.smtp.tls-auth-only = off", "engine.imap.auth-failure-delay = 0s"]);
        var directory = Accounts.DirectoryOf(engine.DataDir);
        Assert.Null(PasswordHasher.CramMd5(directory.Load().Users.Single().PasswordHash));

        using (var imap = new ImapClient())
        {
            await imap.ConnectAsync("127.0.0.1", engine.ImapPort, SecureSocketOptions.None, Ct);
            Assert.Contains("CRAM-MD5", imap.AuthenticationMechanisms);
            await Assert.ThrowsAsync<AuthenticationException>(() =>
                imap.AuthenticateAsync(new SaslMechanismCramMd5("jane@campus.test", Accounts.Password), Ct)); // no key yet
            await imap.AuthenticateAsync(new SaslMechanismPlain("jane@campus.test", Accounts.Password), Ct);
            await imap.DisconnectAsync(true, Ct);
        }
        // The new credentials are written in the background, then the node reloads its directory.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (engine.Services.GetRequiredService<IRecipientDirectory>().Current.CramMd5Of("jane@campus.test") is null)
        {
            Assert.True(DateTime.UtcNow < deadline, "the login made no CRAM-MD5 key");
            await Task.Delay(100, Ct);
        }
        Assert.True(PasswordHasher.Verify(Accounts.Password, directory.Load().Users.Single().PasswordHash));

        using (var imap = new ImapClient())
        {
            await imap.ConnectAsync("127.0.0.1", engine.ImapPort, SecureSocketOptions.None, Ct);
            await imap.AuthenticateAsync(new SaslMechanismCramMd5("jane@campus.test", Accounts.Password), Ct);
            Assert.True(imap.IsAuthenticated);
            await imap.DisconnectAsync(true, Ct);
        }
        using (var pop3 = new Pop3Client())
        {
            await pop3.ConnectAsync("127.0.0.1", engine.Pop3Port, SecureSocketOptions.None, Ct);
            Assert.Contains("CRAM-MD5", pop3.AuthenticationMechanisms);
            await Assert.ThrowsAsync<AuthenticationException>(() =>
                pop3.AuthenticateAsync(new SaslMechanismCramMd5("jane@campus.test", "not the password"), Ct));
        }
        using (var pop3 = new Pop3Client())
        {
            await pop3.ConnectAsync("127.0.0.1", engine.Pop3Port, SecureSocketOptions.None, Ct);
            await pop3.AuthenticateAsync(new SaslMechanismCramMd5("jane@campus.test", Accounts.Password), Ct);
            await pop3.DisconnectAsync(true, Ct);
        }
        using (var smtp = new SmtpClient { LocalDomain = "client.test" })
        {
            await smtp.ConnectAsync("127.0.0.1", engine.Port, SecureSocketOptions.None, Ct);
            Assert.Equal(["SCRAM-SHA-256", "PLAIN", "CRAM-MD5"], smtp.AuthenticationMechanisms.ToArray());
            await smtp.AuthenticateAsync(new SaslMechanismCramMd5("jane@campus.test", Accounts.Password), Ct);
            await smtp.DisconnectAsync(true, Ct);
        }
        var swaks = await Processes.RunAsync("swaks", ["--server", $"127.0.0.1:{engine.Port}", "--helo", "client.test", "--from", "jane@campus.test",
            "--to", "jane@campus.test", "--auth", "CRAM-MD5", "--auth-user", "jane@campus.test", "--auth-password", Accounts.Password,
            "--timeout", "30"]);
        Assert.True(swaks.ExitCode == 0, swaks.Output + swaks.Error);
        Assert.Contains("235 2.7.0 Authentication successful", swaks.Output);
        Assert.Contains(engine.Logs.Lines, l => l.EndsWith("sasl_method=CRAM-MD5, sasl_username=jane@campus.test", StringComparison.Ordinal));
    }
}
