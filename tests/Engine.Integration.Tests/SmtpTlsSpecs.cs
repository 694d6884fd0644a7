using Engine.Integration.Tests.Support;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Engine.Integration.Tests;

/// <summary>
/// SMTP STARTTLS on the MX (RFC 3207) with a certificate from a test CA that the clients check: MailKit,
/// swaks, Python's smtplib, openssl s_client; the Received: header says how; the refusals Postfix gives;
/// smtpd_tls_security_level none and encrypt; nothing sent in clear behind STARTTLS is run.
/// </summary>
public sealed class SmtpTlsSpecs : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly TestCertificates _ca = new(TempDir.Create("smtp-tls-ca"));

    private Task<EngineInstance> EngineAsync(string name, params string[] settings) =>
        Accounts.WithSettingsAsync(name, [TestCertificates.Setting(_ca.Issue("mx.test", "mx").Setting), .. settings]);

    [Fact]
    public async Task MailKit_sends_over_STARTTLS_and_the_Received_header_names_the_TLS_version_and_cipher()
    {
        await using var engine = await EngineAsync("smtp-tls-mailkit");
        using var smtp = new SmtpClient { ServerCertificateValidationCallback = _ca.Validate, CheckCertificateRevocation = false, LocalDomain = "client.test" };
        await smtp.ConnectAsync("127.0.0.1", engine.Port, SecureSocketOptions.StartTls, Ct);
        Assert.True(smtp.IsSecure);
        var message = new MimeMessage { Subject = "mailkit over tls", Body = new TextPart("plain") { Text = "x" } };
        message.From.Add(MailboxAddress.Parse("alice@client.test"));
        message.To.Add(MailboxAddress.Parse("jane@campus.test"));
        await smtp.SendAsync(message, Ct);
        await smtp.DisconnectAsync(true, Ct);

        var text = File.ReadAllText((await Accounts.WaitForNewAsync(engine.DataDir, "jane@campus.test", 1)).Single());
        Assert.Matches(@"\(using TLSv1\.[23] with cipher TLS_\w+\)\r\n\tby mx\.test \(Engine\) with ESMTPS id", text);
        Assert.Contains(engine.Logs.Lines, l => l.StartsWith("Anonymous TLS connection established from unknown[127.0.0.1]: TLSv1.", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Swaks_and_python_smtplib_send_over_STARTTLS_checking_the_chain()
    {
        await using var engine = await EngineAsync("smtp-tls-clients");
        var swaks = await Processes.RunAsync("swaks", ["--server", $"127.0.0.1:{engine.Port}", "--helo", "client.test", "--from", "alice@client.test",
            "--to", "jane@campus.test", "--tls", "--tls-verify", "--tls-ca-path", _ca.AuthorityFile, "--header", "Subject: swaks over tls", "--timeout", "30"]);
        Assert.True(swaks.ExitCode == 0, swaks.Output + swaks.Error);
        Assert.Contains("TLS started", swaks.Output);
        var script = Path.Combine(AppContext.BaseDirectory, "Clients", "smtplib_starttls.py");
        var python = await Processes.RunAsync("python3", [script, _ca.AuthorityFile, engine.Port.ToString(), "alice@client.test", "jane@campus.test"]);
        Assert.True(python.ExitCode == 0, python.Error);
        Assert.Matches(@"^TLSv1\.[23] \{\}", python.Output.Trim()); // no recipient refused
        var files = await Accounts.WaitForNewAsync(engine.DataDir, "jane@campus.test", 2);
        Assert.Equal(2, files.Count(f => File.ReadAllText(f).Contains("with ESMTPS id", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Openssl_s_client_verifies_the_chain_after_starttls_smtp()
    {
        await using var engine = await EngineAsync("smtp-tls-openssl");
        var run = await Processes.RunAsync("openssl", ["s_client", "-starttls", "smtp", "-connect", $"127.0.0.1:{engine.Port}", "-CAfile", _ca.AuthorityFile,
            "-verify_return_error", "-brief"], stdin: "QUIT\r\n");
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("Verification: OK", run.Error);
    }

    [Fact]
    public async Task Commands_pipelined_behind_STARTTLS_are_dropped_and_the_session_starts_over_inside_TLS()
    {
        await using var engine = await EngineAsync("smtp-tls-injection");
        // A QUIT in clear behind STARTTLS would end the session: it is dropped, and EHLO inside TLS is answered.
        var lines = await _ca.AfterInjectionAsync(engine.Port, "EHLO client.test\r\nSTARTTLS\r\nQUIT\r\n", "220 2.0.0", "EHLO client.test\r\n", "250 ");
        Assert.Equal("250-mx.test", lines[0]);
        Assert.DoesNotContain(lines, l => l.Contains("STARTTLS", StringComparison.Ordinal));
        // What was said before TLS is forgotten: MAIL needs a new EHLO, and a second STARTTLS is refused.
        lines = await _ca.AfterInjectionAsync(engine.Port, "EHLO client.test\r\nSTARTTLS\r\n", "220 2.0.0", "MAIL FROM:<alice@client.test>\r\n", "5");
        Assert.Equal("503 5.5.1 Error: send HELO/EHLO first", lines.Single());
        lines = await _ca.AfterInjectionAsync(engine.Port, "STARTTLS\r\n", "220 2.0.0", "STARTTLS\r\n", "5");
        Assert.Equal("554 5.5.1 Error: TLS already active", lines.Single());
    }

    [Fact]
    public async Task STARTTLS_is_refused_with_an_argument_inside_a_transaction_and_when_TLS_is_off()
    {
        await using var engine = await EngineAsync("smtp-tls-refusals");
        await using (var smtp = await RawSmtp.GreetedAsync(engine.Port))
        {
            Assert.Contains("STARTTLS", (await smtp.CommandAsync("EHLO client.test")).Lines.Select(l => l[4..]));
            Assert.Equal("501 5.5.4 Syntax: STARTTLS", (await smtp.CommandAsync("STARTTLS now")).Last);
            Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<alice@client.test>")).Code);
            Assert.Equal("503 5.5.1 Error: MAIL transaction in progress", (await smtp.CommandAsync("STARTTLS")).Last);
            Assert.Equal(250, (await smtp.CommandAsync("NOOP")).Code); // the session goes on in clear
        }
        await using var off = await EngineAsync("smtp-tls-none", "engine.smtp.tls-security-level = none");
        await using var plain = await RawSmtp.GreetedAsync(off.Port);
        var ehlo = (await plain.CommandAsync("EHLO client.test")).Lines.Select(l => l[4..]).ToArray();
        Assert.Contains("PIPELINING", ehlo);
        Assert.DoesNotContain("STARTTLS", ehlo);
        Assert.Equal(502, (await plain.CommandAsync("STARTTLS")).Code);
    }

    [Fact]
    public async Task With_security_level_encrypt_mail_in_clear_is_refused_and_taken_over_TLS()
    {
        await using var engine = await EngineAsync("smtp-tls-encrypt", "engine.smtp.tls-security-level = encrypt");
        await using (var smtp = await RawSmtp.GreetedAsync(engine.Port))
        {
            await smtp.CommandAsync("EHLO client.test");
            Assert.Equal("530 5.7.0 Must issue a STARTTLS command first", (await smtp.CommandAsync("MAIL FROM:<alice@client.test>")).Last);
        }
        using var client = new SmtpClient { ServerCertificateValidationCallback = _ca.Validate, CheckCertificateRevocation = false };
        await client.ConnectAsync("127.0.0.1", engine.Port, SecureSocketOptions.StartTls, Ct);
        var message = new MimeMessage { Subject = "required tls", Body = new TextPart("plain") { Text = "x" } };
        message.From.Add(MailboxAddress.Parse("alice@client.test"));
        message.To.Add(MailboxAddress.Parse("jane@campus.test"));
        await client.SendAsync(message, Ct);
        await client.DisconnectAsync(true, Ct);
        Assert.Single(await Accounts.WaitForNewAsync(engine.DataDir, "jane@campus.test", 1));
    }

    public void Dispose() => _ca.Dispose();
}
