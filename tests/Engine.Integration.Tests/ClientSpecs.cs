using System.Text;
using Engine.Integration.Tests.Support;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using MimeKit.Text;

namespace Engine.Integration.Tests;

/// <summary>A shared engine for the client tests.</summary>
public sealed class EngineFixture : IAsyncLifetime
{
    public EngineInstance Engine { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Engine = await EngineInstance.StartAsync();

    public async ValueTask DisposeAsync() => await Engine.DisposeAsync();
}

/// <summary>
/// Real clients over real loopback TCP: MailKit, Python's smtplib and swaks send plain, 8-bit, SMTPUTF8 and
/// BDAT mail; each message is then found in the queue with its body intact.
/// </summary>
public sealed class ClientSpecs(EngineFixture fixture) : IClassFixture<EngineFixture>
{
    private EngineInstance Engine => fixture.Engine;

    private static string QueueIdOf(string reply)
    {
        var at = reply.IndexOf("queued as ", StringComparison.Ordinal);
        Assert.True(at >= 0, $"no queue id in '{reply}'");
        return reply[(at + "queued as ".Length)..].Trim().Split(' ')[0];
    }

    /// <summary>MailKit sends BDAT only for binary content, unless told to prefer it.</summary>
    private sealed class BdatSmtpClient : SmtpClient
    {
        protected override bool PreferSendAsBinaryData => true;
    }

    private static MimeMessage Message(string from, string to, string subject, TextPart body)
    {
        var message = new MimeMessage { Subject = subject, Body = body };
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse(to));
        return message;
    }

    private async Task<string> SendWithMailKitAsync(MimeMessage message, int? port = null, bool preferBdat = false)
    {
        using var client = preferBdat ? new BdatSmtpClient() : new SmtpClient();
        await client.ConnectAsync("127.0.0.1", port ?? Engine.Port, SecureSocketOptions.None);
        var reply = await client.SendAsync(message);
        await client.DisconnectAsync(true);
        return reply;
    }

    [Fact]
    public async Task MailKit_should_queue_a_plain_message()
    {
        var message = Message("alice@client.test", "user@mx.test", "plain", new TextPart(TextFormat.Plain) { Text = "Hello\r\n.just a dot line\r\n" });
        var id = QueueIdOf(await SendWithMailKitAsync(message));

        var queued = await Engine.QueuedAsync(id);
        Assert.Equal("alice@client.test", queued.Envelope.Sender);
        Assert.Equal("user@mx.test", Assert.Single(queued.Envelope.Recipients).Address);
        var stored = MimeMessage.Load(new MemoryStream(Engine.Body(queued)));
        Assert.Equal("plain", stored.Subject);
        Assert.Equal("Hello\n.just a dot line\n", stored.TextBody?.ReplaceLineEndings("\n"));
        Assert.Contains($"id {id}", stored.Headers[HeaderId.Received]);
    }

    [Fact]
    public async Task MailKit_should_queue_8bit_mail_with_body_8bitmime()
    {
        var message = Message("alice@client.test", "user@mx.test", "8bit", new TextPart(TextFormat.Plain) { Text = "Crème brûlée\r\n", ContentTransferEncoding = ContentEncoding.EightBit });
        var id = QueueIdOf(await SendWithMailKitAsync(message));

        var queued = await Engine.QueuedAsync(id);
        Assert.Equal(global::Engine.Primitives.BodyType.EightBitMime, queued.Envelope.Body);
        var stored = MimeMessage.Load(new MemoryStream(Engine.Body(queued)));
        Assert.Equal("Crème brûlée\n", stored.TextBody?.ReplaceLineEndings("\n"));
        // The 8-bit octets are stored as sent, not re-encoded.
        Assert.True(Engine.Body(queued).AsSpan().IndexOf("Crème brûlée"u8) >= 0);
    }

    [Fact]
    public async Task MailKit_should_queue_smtputf8_mail()
    {
        var message = Message("jöhn@exämple.org", "üser@mx.test", "ünicode", new TextPart(TextFormat.Plain) { Text = "Hallö\r\n" });
        var id = QueueIdOf(await SendWithMailKitAsync(message));

        var queued = await Engine.QueuedAsync(id);
        Assert.True(queued.Envelope.SmtpUtf8);
        Assert.Equal("jöhn@exämple.org", queued.Envelope.Sender);
        Assert.Equal("üser@mx.test", Assert.Single(queued.Envelope.Recipients).Address);
        Assert.Equal("UTF8SMTP", queued.Envelope.Client.Protocol);
    }

    [Fact]
    public async Task MailKit_should_send_with_bdat_and_fall_back_to_data_when_chunking_is_discarded()
    {
        var message = Message("alice@client.test", "user@mx.test", "chunks", new TextPart(TextFormat.Plain) { Text = new string('x', 70) + "\r\n.\r\n" + "end\r\n" });
        var id = QueueIdOf(await SendWithMailKitAsync(message, preferBdat: true));
        var stored = MimeMessage.Load(new MemoryStream(Engine.Body(await Engine.QueuedAsync(id))));
        Assert.Equal(message.TextBody!.ReplaceLineEndings("\n"), stored.TextBody?.ReplaceLineEndings("\n"));
        await Engine.Logs.WaitForAsync(l => l.Contains("bdat=1", StringComparison.Ordinal) && l.StartsWith("disconnect", StringComparison.Ordinal));

        await using var noChunking = await EngineInstance.StartAsync("engine.smtp.discard-ehlo-keywords = [chunking]");
        var id2 = QueueIdOf(await SendWithMailKitAsync(message, noChunking.Port, preferBdat: true));
        var stored2 = MimeMessage.Load(new MemoryStream(noChunking.Body(await noChunking.QueuedAsync(id2))));
        Assert.Equal(message.TextBody!.ReplaceLineEndings("\n"), stored2.TextBody?.ReplaceLineEndings("\n"));
        await noChunking.Logs.WaitForAsync(l => l.Contains("data=1", StringComparison.Ordinal) && l.StartsWith("disconnect", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("8bit")]
    [InlineData("smtputf8")]
    [InlineData("bdat")]
    public async Task Python_smtplib_should_queue_the_exact_octets(string mode)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "Clients", "smtplib_send.py");
        var result = await Processes.RunAsync("python3", [script, Engine.Port.ToString(), mode]);
        Assert.True(result.ExitCode == 0, result.Error);
        var lines = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("250 ", lines[0]);
        var sent = Convert.FromHexString(lines[1].Trim());
        var queued = await Engine.QueuedAsync(QueueIdOf(lines[0]));
        Assert.Equal(sent, Engine.BodyAsSent(queued));
        Assert.Equal(mode == "smtputf8", queued.Envelope.SmtpUtf8);
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("8bit")]
    [InlineData("pipelining")]
    public async Task Swaks_should_queue_mail(string mode)
    {
        var swaks = Processes.Which("swaks");
        Assert.True(swaks is not null, "swaks is not installed: run the tests with tests/run.sh, which installs it");
        var body = mode == "8bit" ? "Grüße aus Köln" : "hello from swaks";
        string[] args =
        [
            "--server", $"127.0.0.1:{Engine.Port}", "--helo", "client.test", "--from", "a@client.test", "--to", "user@mx.test",
            "--header", $"Subject: swaks {mode}", "--body", body, "--timeout", "30",
            .. mode == "pipelining" ? ["--pipeline"] : Array.Empty<string>(),
        ];
        var result = await Processes.RunAsync(swaks, args);
        Assert.True(result.ExitCode == 0, result.Output + result.Error);
        var line = result.Output.Split('\n').Single(l => l.Contains("queued as", StringComparison.Ordinal));
        var queued = await Engine.QueuedAsync(QueueIdOf(line));
        var stored = Encoding.UTF8.GetString(Engine.Body(queued));
        Assert.Contains($"Subject: swaks {mode}", stored);
        Assert.Contains(body, stored);
    }

    [Fact]
    public async Task Swaks_without_smtputf8_should_get_553_for_a_utf8_address()
    {
        // swaks 20201014 has no way to send the SMTPUTF8 parameter: the server must refuse the address.
        var swaks = Processes.Which("swaks");
        Assert.NotNull(swaks);
        var result = await Processes.RunAsync(swaks, ["--server", $"127.0.0.1:{Engine.Port}", "--from", "jöhn@exämple.org", "--to", "user@mx.test", "--timeout", "30"]);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("553 5.6.7", result.Output);
    }
}
