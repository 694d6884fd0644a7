using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Engine.Integration.Tests.Support;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Pop3;
using MailKit.Security;

namespace Engine.Integration.Tests;

/// <summary>
/// TLS on IMAP and POP3 (RFC 2595, RFC 8314): STARTTLS/STLS and TLS from the first byte, with a certificate
/// from a test CA that the clients check (MailKit, Python's imaplib and poplib, openssl s_client).
/// </summary>
public sealed class TlsSpecs : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly TestCertificates _ca = new(TempDir.Create("tls-ca"));

    private async Task<EngineInstance> EngineAsync(string name, params string[] settings)
    {
        var (_, _, entry) = _ca.Issue("mx.test", "mx");
        return await Accounts.WithSettingsAsync(name, [TestCertificates.Setting(entry), .. settings], "Subject: over tls\r\n\r\nsecret");
    }

    [Fact]
    public async Task MailKit_reads_mail_over_STARTTLS_and_implicit_TLS_on_IMAP_and_POP3_checking_the_certificate()
    {
        await using var engine = await EngineAsync("tls-mailkit");
        foreach (var (port, options) in new[] { (engine.ImapPort, SecureSocketOptions.StartTls), (engine.ImapTlsPort, SecureSocketOptions.SslOnConnect) })
        {
            using var imap = new ImapClient { ServerCertificateValidationCallback = _ca.Validate, CheckCertificateRevocation = false };
            await imap.ConnectAsync("127.0.0.1", port, options, Ct);
            Assert.True(imap.IsSecure);
            Assert.True(imap.SslProtocol is SslProtocols.Tls12 or SslProtocols.Tls13, imap.SslProtocol.ToString());
            Assert.DoesNotContain(imap.Capabilities.ToString(), "STARTTLS"); // gone once TLS is on
            await imap.AuthenticateAsync("jane@campus.test", Accounts.Password, Ct);
            await imap.Inbox.OpenAsync(FolderAccess.ReadOnly, Ct);
            Assert.Equal("over tls", (await imap.Inbox.GetMessageAsync(0, Ct)).Subject);
            await imap.DisconnectAsync(true, Ct);
        }
        foreach (var (port, options) in new[] { (engine.Pop3Port, SecureSocketOptions.StartTls), (engine.Pop3TlsPort, SecureSocketOptions.SslOnConnect) })
        {
            using var pop3 = new Pop3Client { ServerCertificateValidationCallback = _ca.Validate, CheckCertificateRevocation = false };
            await pop3.ConnectAsync("127.0.0.1", port, options, Ct);
            Assert.True(pop3.IsSecure);
            await pop3.AuthenticateAsync("jane@campus.test", Accounts.Password, Ct);
            Assert.Equal("over tls", (await pop3.GetMessageAsync(0, Ct)).Subject);
            await pop3.DisconnectAsync(true, Ct);
        }
    }

    [Theory]
    [InlineData("SCRAM-SHA-256")]
    [InlineData("SCRAM-SHA-1")]
    [InlineData("PLAIN")]
    [InlineData("LOGIN")]
    public async Task Imap_and_pop3_log_in_over_TLS_with_each_SASL_mechanism(string mechanism)
    {
        await using var engine = await EngineAsync("tls-sasl-" + mechanism.ToLowerInvariant());
        using (var imap = new ImapClient { ServerCertificateValidationCallback = _ca.Validate, CheckCertificateRevocation = false })
        {
            await imap.ConnectAsync("127.0.0.1", engine.ImapTlsPort, SecureSocketOptions.SslOnConnect, Ct);
            Assert.Equal(["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "LOGIN"], imap.AuthenticationMechanisms.ToArray());
            foreach (var other in imap.AuthenticationMechanisms.Where(m => m != mechanism).ToArray())
                imap.AuthenticationMechanisms.Remove(other);
            await imap.AuthenticateAsync("jane@campus.test", Accounts.Password, Ct);
            await imap.Inbox.OpenAsync(FolderAccess.ReadOnly, Ct);
            Assert.Equal(1, imap.Inbox.Count);
            await imap.DisconnectAsync(true, Ct);
        }
        using (var pop3 = new Pop3Client { ServerCertificateValidationCallback = _ca.Validate, CheckCertificateRevocation = false })
        {
            await pop3.ConnectAsync("127.0.0.1", engine.Pop3TlsPort, SecureSocketOptions.SslOnConnect, Ct);
            Assert.Contains(mechanism, pop3.AuthenticationMechanisms);
            foreach (var other in pop3.AuthenticationMechanisms.Where(m => m != mechanism).ToArray())
                pop3.AuthenticationMechanisms.Remove(other);
            await pop3.AuthenticateAsync("jane@campus.test", Accounts.Password, Ct);
            Assert.Equal(1, pop3.Count);
            await pop3.DisconnectAsync(true, Ct);
        }
        Assert.Contains(engine.Logs.Lines, l => l.StartsWith($"imap-login: Login: user=<jane@campus.test>, method={mechanism}", StringComparison.Ordinal));
        Assert.Contains(engine.Logs.Lines, l => l.StartsWith($"pop3-login: Login: user=<jane@campus.test>, method={mechanism}", StringComparison.Ordinal));
    }

    [Fact]
    public async Task By_default_no_password_is_taken_without_TLS_not_even_from_loopback()
    {
        await using var engine = await EngineAsync("tls-plaintext-off", "engine.auth.plaintext-on-loopback = off");
        using (var imap = await RawImap.GreetedAsync(engine.ImapPort))
        {
            var capability = await imap.ExchangeAsync("a CAPABILITY\r\n", "a");
            Assert.Contains(" STARTTLS", capability);
            Assert.Contains(" LOGINDISABLED", capability);
            Assert.DoesNotContain("AUTH=", capability);
            Assert.Contains("b NO [PRIVACYREQUIRED]", await imap.ExchangeAsync($"b LOGIN jane@campus.test \"{Accounts.Password}\"\r\n", "b"));
            Assert.Contains("c NO [PRIVACYREQUIRED]", await imap.ExchangeAsync("c AUTHENTICATE PLAIN AGphbmVAY2FtcHVzLnRlc3QAY29ycmVjdCBob3JzZQ==\r\n", "c"));
        }
        using (var pop3 = new Pop3Client())
        {
            await pop3.ConnectAsync("127.0.0.1", engine.Pop3Port, SecureSocketOptions.None, Ct);
            Assert.Empty(pop3.AuthenticationMechanisms);
            Assert.True(pop3.Capabilities.HasFlag(Pop3Capabilities.StartTLS));
            await Assert.ThrowsAnyAsync<Exception>(() => pop3.AuthenticateAsync("jane@campus.test", Accounts.Password, Ct));
        }
        using (var raw = new System.Net.Sockets.TcpClient())
        {
            await raw.ConnectAsync("127.0.0.1", engine.Pop3Port, Ct);
            var reader = new StreamReader(raw.GetStream());
            await reader.ReadLineAsync(Ct);
            await raw.GetStream().WriteAsync("USER jane@campus.test\r\n"u8.ToArray(), Ct);
            Assert.StartsWith("-ERR [AUTH] Plaintext authentication disallowed", await reader.ReadLineAsync(Ct), StringComparison.Ordinal);
        }
        // Over TLS the same client logs in.
        using var secure = new ImapClient { ServerCertificateValidationCallback = _ca.Validate, CheckCertificateRevocation = false };
        await secure.ConnectAsync("127.0.0.1", engine.ImapPort, SecureSocketOptions.StartTls, Ct);
        await secure.AuthenticateAsync("jane@campus.test", Accounts.Password, Ct);
        await secure.DisconnectAsync(true, Ct);
    }

    [Fact]
    public async Task A_certificate_from_another_CA_is_refused_by_a_checking_client()
    {
        await using var engine = await EngineAsync("tls-untrusted");
        using var other = new TestCertificates(TempDir.Create("tls-other-ca"));
        using var imap = new ImapClient { ServerCertificateValidationCallback = other.Validate, CheckCertificateRevocation = false };
        await Assert.ThrowsAnyAsync<SslHandshakeException>(() => imap.ConnectAsync("127.0.0.1", engine.ImapTlsPort, SecureSocketOptions.SslOnConnect, Ct));
    }

    [Fact]
    public async Task Python_imaplib_and_poplib_use_STARTTLS_STLS_and_implicit_TLS()
    {
        await using var engine = await EngineAsync("tls-python");
        var script = Path.Combine(AppContext.BaseDirectory, "Clients", "tls_clients.py");
        var run = await Processes.RunAsync("python3", [script, _ca.AuthorityFile, engine.ImapPort.ToString(), engine.ImapTlsPort.ToString(),
            engine.Pop3Port.ToString(), engine.Pop3TlsPort.ToString(), "jane@campus.test", Accounts.Password]);
        Assert.True(run.ExitCode == 0, run.Error);
        var lines = run.Output.Trim().Split('\n');
        Assert.Equal(["imap-starttls", "imaps", "pop3-stls", "pop3s"], lines.Select(l => l.Split(' ')[0]));
        Assert.All(lines, l => Assert.Matches(@"^\S+ TLSv1\.[23] ", l));
        Assert.EndsWith("OK 1", lines[0]);
        Assert.EndsWith(" 1", lines[3]);
    }

    [Theory]
    [InlineData("imap")]
    [InlineData("pop3")]
    public async Task Openssl_s_client_verifies_the_chain_after_starttls(string protocol)
    {
        await using var engine = await EngineAsync("tls-openssl-" + protocol);
        var port = protocol == "imap" ? engine.ImapPort : engine.Pop3Port;
        var run = await Processes.RunAsync("openssl", ["s_client", "-starttls", protocol, "-connect", $"127.0.0.1:{port}", "-CAfile", _ca.AuthorityFile,
            "-verify_return_error", "-brief"], stdin: protocol == "imap" ? "a LOGOUT\r\n" : "QUIT\r\n");
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("Verification: OK", run.Error);
        Assert.Matches("Protocol version: TLSv1\\.[23]", run.Error);
    }

    [Fact]
    public async Task Commands_pipelined_behind_STARTTLS_or_STLS_are_dropped_not_run_inside_TLS()
    {
        await using var engine = await EngineAsync("tls-injection");
        // IMAP: "b LOGIN" sent in clear right behind STARTTLS must never be answered.
        var imapLines = await _ca.AfterInjectionAsync(engine.ImapPort, "a STARTTLS\r\nb LOGIN jane@campus.test \"correct horse\"\r\n", "a OK",
            "c NOOP\r\n", "c ");
        Assert.Equal("c OK Completed.", imapLines.Single(l => !l.StartsWith("* ", StringComparison.Ordinal)));
        // POP3: a QUIT behind STLS is dropped, so the session goes on inside TLS.
        var popLines = await _ca.AfterInjectionAsync(engine.Pop3Port, "STLS\r\nQUIT\r\n", "+OK", "CAPA\r\n", "");
        Assert.Equal("+OK Capability list follows", popLines.Single());
    }

    [Fact]
    public async Task The_certificate_is_chosen_by_SNI_and_reloaded_when_its_files_change()
    {
        var (_, _, first) = _ca.Issue("mx.test", "mx");
        var (otherChain, otherKey, second) = _ca.Issue("imap.other.test", "other");
        await using var engine = await Accounts.WithSettingsAsync("tls-sni", [TestCertificates.Setting(first, second), "engine.tls.reload-check = 0s"]);
        Assert.Equal("CN=mx.test", await SubjectAsync(engine.ImapTlsPort, "unknown.test"));
        Assert.Equal("CN=imap.other.test", await SubjectAsync(engine.ImapTlsPort, "imap.other.test"));

        // The second certificate is renewed (new files, as certbot writes them): new connections get it, no restart.
        var (renewedChain, renewedKey, _) = _ca.Issue("imap.other.test", "renewed");
        var before = X509CertificateLoader.LoadCertificateFromFile(otherChain).Thumbprint;
        File.Copy(renewedChain, otherChain, overwrite: true);
        File.Copy(renewedKey, otherKey, overwrite: true);
        File.SetLastWriteTimeUtc(otherChain, DateTime.UtcNow.AddSeconds(5));
        var after = await ThumbprintAsync(engine.ImapTlsPort, "imap.other.test");
        Assert.NotEqual(before, after);
        Assert.Equal(X509CertificateLoader.LoadCertificateFromFile(renewedChain).Thumbprint, after);
    }

    [Fact]
    public async Task Without_a_configured_certificate_a_self_signed_one_for_the_host_name_is_made_and_kept()
    {
        await using var engine = await Accounts.WithMailAsync("tls-self-signed");
        Assert.Equal("CN=mx.test", await SubjectAsync(engine.ImapTlsPort, "mx.test"));
        Assert.True(File.Exists(Path.Combine(engine.DataDir, "tls", "self-signed.pem")));
        Assert.Contains(engine.Logs.Lines, l => l.Contains("no TLS certificate configured", StringComparison.Ordinal));
    }

    private static async Task<string> SubjectAsync(int port, string serverName) => (await CertificateAsync(port, serverName)).Subject;

    private static async Task<string> ThumbprintAsync(int port, string serverName) => (await CertificateAsync(port, serverName)).Thumbprint;

    private static Task<X509Certificate2> CertificateAsync(int port, string serverName) => TestCertificates.ServedAsync(port, serverName, Ct);

    public void Dispose() => _ca.Dispose();
}
