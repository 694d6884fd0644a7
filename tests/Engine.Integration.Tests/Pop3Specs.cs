using System.Text;
using System.Text.Json;
using Engine.Integration.Tests.Support;
using MailKit.Net.Pop3;

namespace Engine.Integration.Tests;

/// <summary>The POP3 server with real clients: MailKit's Pop3Client, Python's poplib, and raw lines.</summary>
public sealed class Pop3Specs
{
    private const string Password = Accounts.Password;

    private static string[] MaildirFiles(EngineInstance engine) =>
        Directory.GetFiles(Path.Combine(engine.DataDir, "mail", "campus.test", "jane", "new")).Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public async Task MailKit_reads_the_messages_byte_exact_deletes_one_and_the_uids_stay_across_a_restart()
    {
        string[] uids;
        string dataDir;
        // "..dotted" in DATA is ".dotted" in the mailbox, which POP3 must stuff again on the way out.
        await using (var engine = await Accounts.WithMailAsync("pop3-mailkit", "Subject: one\r\n\r\nfirst\r\n..dotted line", "Subject: two\r\n\r\nsecond"))
        {
            dataDir = engine.DataDir;
            using var pop = new Pop3Client();
            await pop.ConnectAsync("127.0.0.1", engine.Pop3Port, MailKit.Security.SecureSocketOptions.None, TestContext.Current.CancellationToken);
            Assert.True(pop.Capabilities.HasFlag(Pop3Capabilities.UIDL));
            Assert.True(pop.Capabilities.HasFlag(Pop3Capabilities.Pipelining));
            await pop.AuthenticateAsync("jane@campus.test", Password, TestContext.Current.CancellationToken);
            Assert.Equal(2, pop.Count);
            uids = (await pop.GetMessageUidsAsync(TestContext.Current.CancellationToken)).ToArray();
            Assert.Equal(2, uids.Distinct().Count());

            var files = MaildirFiles(engine);
            for (var i = 0; i < 2; i++)
            {
                using var stream = await pop.GetStreamAsync(i, cancellationToken: TestContext.Current.CancellationToken);
                using var copy = new MemoryStream();
                await stream.CopyToAsync(copy, TestContext.Current.CancellationToken);
                Assert.Equal(await File.ReadAllBytesAsync(files[i], TestContext.Current.CancellationToken), copy.ToArray());
            }
            Assert.Equal((await pop.GetMessageSizesAsync(TestContext.Current.CancellationToken)).ToArray(), files.Select(f => (int)new FileInfo(f).Length));
            var first = await pop.GetMessageAsync(0, TestContext.Current.CancellationToken);
            Assert.Equal("one", first.Subject);
            Assert.Contains(".dotted line", first.TextBody, StringComparison.Ordinal);

            await pop.DeleteMessageAsync(0, TestContext.Current.CancellationToken);
            await pop.DisconnectAsync(true, TestContext.Current.CancellationToken);
            Assert.Single(MaildirFiles(engine));
        }

        await using (var engine = await EngineInstance.StartInAsync(dataDir))
        {
            using var pop = new Pop3Client();
            await pop.ConnectAsync("127.0.0.1", engine.Pop3Port, MailKit.Security.SecureSocketOptions.None, TestContext.Current.CancellationToken);
            await pop.AuthenticateAsync("jane@campus.test", Password, TestContext.Current.CancellationToken);
            Assert.Equal(1, pop.Count);
            Assert.Equal(uids[1], await pop.GetMessageUidAsync(0, TestContext.Current.CancellationToken)); // the same id after a restart
            Assert.Equal("two", (await pop.GetMessageAsync(0, TestContext.Current.CancellationToken)).Subject);
            await pop.DisconnectAsync(true, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task Python_poplib_lists_retrieves_tops_and_deletes()
    {
        await using var engine = await Accounts.WithMailAsync("pop3-poplib", "Subject: hello\r\nX-A: 1\r\n\r\nbody line 1\r\nbody line 2");
        var script = Path.Combine(AppContext.BaseDirectory, "Clients", "poplib_fetch.py");
        var run = await Processes.RunAsync("python3", [script, engine.Pop3Port.ToString(), "jane@campus.test", Password, "dele"]);
        Assert.True(run.ExitCode == 0, run.Error);
        using var json = JsonDocument.Parse(run.Output);
        Assert.Equal(1, json.RootElement.GetProperty("stat")[0].GetInt32());
        var message = Convert.FromHexString(json.RootElement.GetProperty("messages")[0].GetString()!);
        Assert.EndsWith("Subject: hello\r\nX-A: 1\r\n\r\nbody line 1\r\nbody line 2\r\n", Encoding.ASCII.GetString(message), StringComparison.Ordinal);
        Assert.Equal(message.Length, json.RootElement.GetProperty("stat")[1].GetInt32());
        Assert.Equal($"1 {message.Length}", json.RootElement.GetProperty("list")[0].GetString());
        var top = Encoding.ASCII.GetString(Convert.FromHexString(json.RootElement.GetProperty("top").GetString()!));
        Assert.EndsWith("X-A: 1\r\n", top, StringComparison.Ordinal); // the header and the blank line, no body
        Assert.DoesNotContain("body line", top, StringComparison.Ordinal);
        Assert.Matches("^1 [0-9A-F]{16}$", json.RootElement.GetProperty("uidl")[0].GetString()!);
        Assert.Empty(MaildirFiles(engine)); // deleted at QUIT
    }

    [Fact]
    public async Task Fetchmail_fetches_every_message_and_leaves_the_maildrop_empty()
    {
        await using var engine = await Accounts.WithMailAsync("pop3-fetchmail", "Subject: f1\r\n\r\nfirst", "Subject: f2\r\n\r\nsecond");
        var home = TempDir.Create("fetchmail");
        var received = Directory.CreateDirectory(Path.Combine(home, "received")).FullName;
        var rc = Path.Combine(home, "fetchmailrc");
        await File.WriteAllTextAsync(rc, $"""
            poll 127.0.0.1 with protocol POP3 service {engine.Pop3Port} auth password
              user "jane@campus.test" there with password "{Password}" is "root" here
              options nokeep sslproto '' mda "/bin/sh -c 'cat > {received}/$$.eml'"

            """, TestContext.Current.CancellationToken);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(rc, UnixFileMode.UserRead | UnixFileMode.UserWrite); // fetchmail refuses a readable rc file
        var run = await Processes.RunAsync("env", [$"FETCHMAILHOME={home}", "fetchmail", "-f", rc, "-v", "--nosyslog", "-d0"]);
        Assert.True(run.ExitCode == 0, run.Output + run.Error);

        var subjects = Directory.GetFiles(received).Select(f => MimeKit.MimeMessage.Load(f).Subject).Order(StringComparer.Ordinal);
        Assert.Equal(["f1", "f2"], subjects);
        Assert.Empty(MaildirFiles(engine)); // nokeep: deleted on the server after fetching
    }

    [Fact]
    public async Task Dovecot_reads_the_maildir_the_engine_wrote_and_the_engine_still_serves_what_dovecot_flagged()
    {
        await using var engine = await Accounts.WithMailAsync("pop3-dovecot", "Subject: one\r\n\r\nfirst", "Subject: two\r\n\r\nsecond");
        var written = MaildirFiles(engine).Select(File.ReadAllBytes).ToArray(); // Dovecot moves them to cur/ when it looks
        await DovecotServer.HandOverAsync(Path.Combine(engine.DataDir, "mail", "campus.test"));
        await using var dovecot = await DovecotServer.StartAsync(Path.Combine(engine.DataDir, "mail"), "jane@campus.test", Password);

        using (var imap = new MailKit.Net.Imap.ImapClient())
        {
            await imap.ConnectAsync("127.0.0.1", dovecot.Port, MailKit.Security.SecureSocketOptions.None, TestContext.Current.CancellationToken);
            await imap.AuthenticateAsync("jane@campus.test", Password, TestContext.Current.CancellationToken);
            await imap.Inbox.OpenAsync(MailKit.FolderAccess.ReadWrite, TestContext.Current.CancellationToken);
            Assert.Equal(2, imap.Inbox.Count);
            var read = new List<byte[]>();
            for (var i = 0; i < 2; i++)
            {
                using var stream = await imap.Inbox.GetStreamAsync(i, "", TestContext.Current.CancellationToken);
                using var copy = new MemoryStream();
                await stream.CopyToAsync(copy, TestContext.Current.CancellationToken);
                read.Add(copy.ToArray());
            }
            Assert.Equal(written.Select(Convert.ToHexString).Order(StringComparer.Ordinal), read.Select(Convert.ToHexString).Order(StringComparer.Ordinal));
            await imap.Inbox.StoreAsync(0, new MailKit.StoreFlagsRequest(MailKit.StoreAction.Add, MailKit.MessageFlags.Seen) { Silent = true },
                TestContext.Current.CancellationToken);
            await imap.DisconnectAsync(true, TestContext.Current.CancellationToken);
        }
        // Dovecot moved both to cur/ and marked one \Seen ("...:2,S"), as the Maildir spec has it.
        var cur = Directory.GetFiles(Path.Combine(engine.DataDir, "mail", "campus.test", "jane", "cur"));
        Assert.Contains(cur, f => f.EndsWith(":2,S", StringComparison.Ordinal));

        using var pop = new Pop3Client();
        await pop.ConnectAsync("127.0.0.1", engine.Pop3Port, MailKit.Security.SecureSocketOptions.None, TestContext.Current.CancellationToken);
        await pop.AuthenticateAsync("jane@campus.test", Password, TestContext.Current.CancellationToken);
        Assert.Equal("one", (await pop.GetMessageAsync(0, TestContext.Current.CancellationToken)).Subject);
        Assert.Equal("two", (await pop.GetMessageAsync(1, TestContext.Current.CancellationToken)).Subject);
        await pop.DisconnectAsync(true, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Pipelined_commands_are_answered_in_order_and_nothing_is_deleted_without_quit()
    {
        await using var engine = await Accounts.WithMailAsync("pop3-raw", "Subject: a\r\n\r\nx", "Subject: b\r\n\r\ny");
        using (var pop = await Pop3Line.ConnectAsync(engine.Pop3Port))
        {
            Assert.StartsWith("+OK", await pop.ReadLineAsync(), StringComparison.Ordinal);
            await pop.WriteAsync($"USER jane@campus.test\r\nPASS {Password}\r\nSTAT\r\nDELE 1\r\nLIST 1\r\nNOOP\r\n");
            Assert.Equal("+OK", await pop.ReadLineAsync());
            Assert.Equal("+OK Logged in.", await pop.ReadLineAsync());
            Assert.StartsWith("+OK 2 ", await pop.ReadLineAsync(), StringComparison.Ordinal);
            Assert.Equal("+OK Marked to be deleted.", await pop.ReadLineAsync());
            Assert.StartsWith("-ERR", await pop.ReadLineAsync(), StringComparison.Ordinal);
            Assert.Equal("+OK", await pop.ReadLineAsync());
            // The connection drops without QUIT: RFC 1939 section 6, nothing is removed.
        }
        await Task.Delay(300, TestContext.Current.CancellationToken);
        Assert.Equal(2, MaildirFiles(engine).Length);
    }

    [Fact]
    public async Task A_client_that_resets_the_connection_is_logged_as_lost_and_nothing_is_deleted()
    {
        await using var engine = await Accounts.WithMailAsync("pop3-reset", "Subject: a\r\n\r\nx");
        using (var pop = await Pop3Line.ConnectAsync(engine.Pop3Port))
        {
            Assert.StartsWith("+OK", await pop.ReadLineAsync(), StringComparison.Ordinal);
            await pop.WriteAsync($"USER jane@campus.test\r\nPASS {Password}\r\nDELE 1\r\n");
            Assert.Equal("+OK", await pop.ReadLineAsync());
            Assert.Equal("+OK Logged in.", await pop.ReadLineAsync());
            Assert.Equal("+OK Marked to be deleted.", await pop.ReadLineAsync());
            pop.Reset();
        }
        await engine.Logs.WaitForAsync(l => l.StartsWith("pop3(jane@campus.test): Disconnected: Connection lost", StringComparison.Ordinal));
        Assert.Single(MaildirFiles(engine));
    }

    [Fact]
    public async Task With_lock_session_a_second_session_gets_IN_USE_until_the_first_ends()
    {
        var dataDir = Accounts.WithJane("pop3-lock");
        Accounts.DirectoryOf(dataDir).SetPassword("jane@campus.test", Engine.Storage.Accounts.PasswordHasher.Hash(Password, Accounts.TestCost));
        await using var engine = await EngineInstance.StartInAsync(dataDir, "engine.pop3.lock-session = on");
        using var first = await Pop3Line.ConnectAsync(engine.Pop3Port);
        await first.ReadLineAsync();
        await first.WriteAsync($"USER jane@campus.test\r\nPASS {Password}\r\n");
        Assert.Equal("+OK", await first.ReadLineAsync());
        Assert.Equal("+OK Logged in.", await first.ReadLineAsync());

        using var second = await Pop3Line.ConnectAsync(engine.Pop3Port);
        await second.ReadLineAsync();
        await second.WriteAsync($"USER jane@campus.test\r\nPASS {Password}\r\n");
        Assert.Equal("+OK", await second.ReadLineAsync());
        Assert.Equal("-ERR [IN-USE] Mailbox is locked by another POP3 session.", await second.ReadLineAsync());

        await first.WriteAsync("QUIT\r\n");
        Assert.StartsWith("+OK", await first.ReadLineAsync(), StringComparison.Ordinal);
        await Task.Delay(300, TestContext.Current.CancellationToken); // the release is told, not asked
        await second.WriteAsync($"USER jane@campus.test\r\nPASS {Password}\r\n");
        Assert.Equal("+OK", await second.ReadLineAsync());
        Assert.Equal("+OK Logged in.", await second.ReadLineAsync());
    }

    [Fact]
    public async Task Bad_lines_get_err_and_wrong_passwords_are_slowed_then_the_session_is_closed()
    {
        await using var engine = await Accounts.WithMailAsync("pop3-bad");
        using var pop = await Pop3Line.ConnectAsync(engine.Pop3Port);
        await pop.ReadLineAsync();
        await pop.WriteAsync("FROBNICATE\r\n" + new string('A', 600) + "\r\nSTAT\r\nCAPA\r\n");
        Assert.Equal("-ERR unknown command", await pop.ReadLineAsync());
        Assert.Equal("-ERR line too long", await pop.ReadLineAsync());
        Assert.StartsWith("-ERR", await pop.ReadLineAsync(), StringComparison.Ordinal); // STAT before login
        Assert.Equal("+OK Capability list follows", await pop.ReadLineAsync());
        while (await pop.ReadLineAsync() != ".")
        {
        }

        var started = DateTime.UtcNow;
        for (var i = 1; i <= 2; i++)
        {
            await pop.WriteAsync($"USER jane@campus.test\r\nPASS wrong {i}\r\n");
            Assert.Equal("+OK", await pop.ReadLineAsync());
            Assert.Equal("-ERR [AUTH] Authentication failed.", await pop.ReadLineAsync());
        }
        await pop.WriteAsync("USER jane@campus.test\r\nPASS wrong 3\r\n");
        Assert.Equal("+OK", await pop.ReadLineAsync());
        Assert.StartsWith("-ERR [AUTH] Too many failed logins", await pop.ReadLineAsync(), StringComparison.Ordinal);
        Assert.Null(await pop.ReadLineAsync()); // closed
        // 200 ms, then 400, then 600: the failures waited at least 1.2 s in all.
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(1150));
        Assert.DoesNotContain(engine.Logs.Lines, l => l.Contains("wrong", StringComparison.Ordinal) || l.Contains(Password, StringComparison.Ordinal));
        Assert.Contains(engine.Logs.Lines, l => l.StartsWith("pop3-login: Aborted login (auth failed, 3 attempts): user=<jane@campus.test>", StringComparison.Ordinal));
    }
}

/// <summary>A raw POP3 connection for tests: write bytes, read CRLF lines.</summary>
internal sealed class Pop3Line : IDisposable
{
    private readonly System.Net.Sockets.TcpClient _client;
    private readonly Stream _stream;
    private readonly StreamReader _reader;

    private Pop3Line(System.Net.Sockets.TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
        _reader = new StreamReader(_stream, Encoding.ASCII);
    }

    public static async Task<Pop3Line> ConnectAsync(int port)
    {
        var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync("127.0.0.1", port);
        return new Pop3Line(client);
    }

    public Task WriteAsync(string text) => _stream.WriteAsync(Encoding.ASCII.GetBytes(text)).AsTask();

    public async Task<string?> ReadLineAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        return await _reader.ReadLineAsync(timeout.Token);
    }

    /// <summary>Ends the connection with a reset (RST) instead of a close, as some clients do.</summary>
    public void Reset()
    {
        _client.Client.LingerState = new System.Net.Sockets.LingerOption(true, 0);
        _client.Client.Close();
    }

    public void Dispose() => _client.Dispose();
}
