using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Engine.Integration.Tests.Support;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Search;

namespace Engine.Integration.Tests;

/// <summary>The IMAP server with real clients: MailKit's ImapClient, Python's imaplib, and raw lines.</summary>
public sealed class ImapSpecs
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Inbox(EngineInstance engine, string sub) => Inbox(engine.DataDir, sub);

    private static string Inbox(string dataDir, string sub) => Path.Combine(dataDir, "mail", "campus.test", "jane", sub);

    private static async Task<ImapClient> LoginAsync(EngineInstance engine)
    {
        var imap = new ImapClient();
        await imap.ConnectAsync("127.0.0.1", engine.ImapPort, MailKit.Security.SecureSocketOptions.None, Ct);
        await imap.AuthenticateAsync("jane@campus.test", Accounts.Password, Ct);
        return imap;
    }

    /// <summary>A raw connection past the greeting.</summary>
    private static async Task<(TcpClient, NetworkStream, StreamReader)> GreetedAsync(EngineInstance engine)
    {
        var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", engine.ImapPort, Ct);
        var stream = client.GetStream();
        var reader = new StreamReader(stream, Encoding.UTF8);
        Assert.StartsWith("* OK [CAPABILITY", await reader.ReadLineAsync(Ct));
        return (client, stream, reader);
    }

    [Fact]
    public async Task MailKit_fetches_searches_flags_and_expunges_and_the_maildir_names_carry_the_flags()
    {
        await using var engine = await Accounts.WithMailAsync("imap-mailkit",
            "From: Alice <alice@client.test>\r\nTo: jane@campus.test\r\nSubject: one\r\n\r\nfirst\r\n..dotted",
            "From: Bob <bob@client.test>\r\nSubject: two\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
            "Content-Type: text/plain\r\n\r\nsecond body\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--");
        using var imap = await LoginAsync(engine);
        Assert.True(imap.Capabilities.HasFlag(ImapCapabilities.Idle));
        Assert.True(imap.Capabilities.HasFlag(ImapCapabilities.CondStore));
        var inbox = imap.Inbox;
        await inbox.OpenAsync(FolderAccess.ReadWrite, Ct);
        Assert.Equal(2, inbox.Count);

        var summaries = await inbox.FetchAsync(0, -1,
            MessageSummaryItems.UniqueId | MessageSummaryItems.Envelope | MessageSummaryItems.BodyStructure | MessageSummaryItems.Flags
            | MessageSummaryItems.Size | MessageSummaryItems.InternalDate | MessageSummaryItems.ModSeq, Ct);
        Assert.Equal(["one", "two"], summaries.Select(s => s.Envelope!.Subject));
        Assert.Equal("Alice", ((MimeKit.MailboxAddress)summaries[0].Envelope!.From[0]).Name);
        Assert.Equal(["text/plain", "application/octet-stream"], summaries[1].BodyParts.Select(p => p.ContentType.MimeType.ToLowerInvariant()));
        Assert.All(summaries, s => Assert.Equal(MessageFlags.None, s.Flags));
        Assert.True(summaries[1].InternalDate!.Value > DateTimeOffset.UtcNow.AddMinutes(-5));

        // Byte for byte what is in the Maildir (MailKit reads with BODY.PEEK, so \Seen stays unset).
        var files = Directory.GetFiles(Inbox(engine, "new")).Order(StringComparer.Ordinal).ToArray();
        using (var stream = await inbox.GetStreamAsync(summaries[0].UniqueId, "", Ct))
        {
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy, Ct);
            Assert.Equal(await File.ReadAllBytesAsync(files[0], Ct), copy.ToArray());
        }
        Assert.Equal(summaries[0].Size, (uint)new FileInfo(files[0]).Length);
        var attachment = (MimeKit.MimePart)await inbox.GetBodyPartAsync(summaries[1].UniqueId, summaries[1].BodyParts.Last(), Ct);
        using (var decoded = new MemoryStream())
        {
            await attachment.Content!.DecodeToAsync(decoded, Ct);
            Assert.Equal(new byte[] { 0, 1, 2 }, decoded.ToArray());
        }

        Assert.Equal(summaries.Select(s => s.UniqueId), await inbox.SearchAsync(SearchQuery.NotSeen, Ct));
        await inbox.AddFlagsAsync(summaries[0].UniqueId, MessageFlags.Seen, true, Ct);
        Assert.Equal([summaries[1].UniqueId], await inbox.SearchAsync(SearchQuery.NotSeen, Ct));
        Assert.Equal([summaries[1].UniqueId], await inbox.SearchAsync(SearchQuery.BodyContains("second body"), Ct));
        Assert.Equal([summaries[0].UniqueId], await inbox.SearchAsync(SearchQuery.FromContains("alice").And(SearchQuery.SubjectContains("ONE")), Ct));

        await inbox.AddFlagsAsync(summaries[1].UniqueId, MessageFlags.Flagged | MessageFlags.Answered, true, Ct);
        Assert.Single(Directory.GetFiles(Inbox(engine, "cur"), "*:2,FR"));
        Assert.Single(Directory.GetFiles(Inbox(engine, "cur"), "*:2,S"));
        Assert.Empty(Directory.GetFiles(Inbox(engine, "new")));

        await inbox.AddFlagsAsync(summaries[0].UniqueId, MessageFlags.Deleted, true, Ct);
        await inbox.ExpungeAsync(Ct);
        Assert.Equal(1, inbox.Count);
        Assert.Single(Directory.GetFiles(Inbox(engine, "cur")));
        var left = await inbox.FetchAsync(0, -1, MessageSummaryItems.Flags | MessageSummaryItems.UniqueId, Ct);
        Assert.Equal(MessageFlags.Flagged | MessageFlags.Answered, left[0].Flags);
        await imap.DisconnectAsync(true, Ct);
    }

    [Fact]
    public async Task An_idling_MailKit_client_sees_a_new_message_within_one_second_of_its_250()
    {
        await using var engine = await Accounts.WithMailAsync("imap-idle", "Subject: before\r\n\r\nx");
        using var imap = await LoginAsync(engine);
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly, Ct);
        var arrived = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        imap.Inbox.CountChanged += (_, _) => arrived.TrySetResult(imap.Inbox.Count);
        using var done = new CancellationTokenSource();
        var idle = imap.IdleAsync(done.Token, Ct);
        await Task.Delay(200, Ct); // IDLE under way

        var clock = Stopwatch.StartNew();
        await RawSmtp.SendMessageAsync(engine.Port, "alice@client.test", "Subject: during\r\n\r\ny", "jane@campus.test");
        var accepted = clock.Elapsed;
        var count = await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        var seen = clock.Elapsed - accepted;
        Assert.Equal(2, count);
        Assert.True(seen < TimeSpan.FromSeconds(1), $"EXISTS came {seen.TotalMilliseconds:F0} ms after the 250");
        await done.CancelAsync();
        await idle;
        await imap.DisconnectAsync(true, Ct);
    }

    [Fact]
    public async Task Two_sessions_see_each_others_flags_and_expunges_and_a_fetch_of_a_message_expunged_meanwhile_fails_cleanly()
    {
        await using var engine = await Accounts.WithMailAsync("imap-two", "Subject: a\r\n\r\n1", "Subject: b\r\n\r\n2", "Subject: c\r\n\r\n3");
        using var first = await LoginAsync(engine);
        using var second = await LoginAsync(engine);
        await first.Inbox.OpenAsync(FolderAccess.ReadWrite, Ct);
        await second.Inbox.OpenAsync(FolderAccess.ReadWrite, Ct);
        var flagged = new List<int>();
        var expunged = new List<int>();
        second.Inbox.MessageFlagsChanged += (_, e) => flagged.Add(e.Index);
        second.Inbox.MessageExpunged += (_, e) => expunged.Add(e.Index);

        await first.Inbox.AddFlagsAsync(0, MessageFlags.Seen, true, Ct);
        await first.Inbox.AddFlagsAsync(1, MessageFlags.Deleted, true, Ct);
        await first.Inbox.ExpungeAsync(Ct);
        Assert.Equal(2, first.Inbox.Count);

        // The second session still numbers three messages; the body of the expunged one is gone.
        var gone = await Assert.ThrowsAnyAsync<Exception>(() => second.Inbox.GetMessageAsync(1, Ct));
        Assert.IsNotType<IOException>(gone);
        await second.NoOpAsync(Ct);
        Assert.Contains(0, flagged);
        Assert.Equal([1], expunged);
        Assert.Equal(2, second.Inbox.Count);
        var subjects = await second.Inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope, Ct);
        Assert.Equal(["a", "c"], subjects.Select(s => s.Envelope!.Subject));
        await first.DisconnectAsync(true, Ct);
        await second.DisconnectAsync(true, Ct);
    }

    [Fact]
    public async Task A_MailKit_client_resynchronizes_with_QRESYNC_and_learns_what_vanished_and_what_changed()
    {
        await using var engine = await Accounts.WithMailAsync("imap-qresync", "Subject: a\r\n\r\n1", "Subject: b\r\n\r\n2", "Subject: c\r\n\r\n3");
        uint uidValidity;
        ulong modseq;
        IList<UniqueId> known;
        using (var first = await LoginAsync(engine))
        {
            Assert.True(first.Capabilities.HasFlag(ImapCapabilities.QuickResync));
            await first.EnableQuickResyncAsync(Ct);
            await first.Inbox.OpenAsync(FolderAccess.ReadOnly, Ct);
            uidValidity = first.Inbox.UidValidity;
            modseq = first.Inbox.HighestModSeq;
            known = await first.Inbox.SearchAsync(SearchQuery.All, Ct);
            await first.DisconnectAsync(true, Ct);
        }
        using (var other = await LoginAsync(engine))
        {
            await other.Inbox.OpenAsync(FolderAccess.ReadWrite, Ct);
            await other.Inbox.AddFlagsAsync(known[1], MessageFlags.Seen, true, Ct);
            await other.Inbox.AddFlagsAsync(known[0], MessageFlags.Deleted, true, Ct);
            await other.Inbox.ExpungeAsync(Ct);
            await other.DisconnectAsync(true, Ct);
        }

        using var again = await LoginAsync(engine);
        await again.EnableQuickResyncAsync(Ct);
        var vanished = new List<UniqueId>();
        var changed = new List<(UniqueId? Uid, MessageFlags Flags)>();
        again.Inbox.MessagesVanished += (_, e) => vanished.AddRange(e.UniqueIds);
        again.Inbox.MessageFlagsChanged += (_, e) => changed.Add((e.UniqueId, e.Flags));
        await again.Inbox.OpenAsync(FolderAccess.ReadOnly, uidValidity, modseq, known, Ct);
        Assert.Equal([known[0]], vanished);
        Assert.Equal([(known[1], MessageFlags.Seen)], changed.Select(c => (c.Uid!.Value, c.Flags)).Select(c => ((UniqueId?)c.Item1, c.Flags)));
        Assert.Equal(2, again.Inbox.Count);
        await again.DisconnectAsync(true, Ct);
    }

    [Fact]
    public async Task An_expunge_removes_only_what_is_deleted_in_the_mailbox_now_not_in_a_stale_view()
    {
        await using var engine = await Accounts.WithMailAsync("imap-stale", "Subject: keep\r\n\r\n1");
        using var first = await LoginAsync(engine);
        using var second = await LoginAsync(engine);
        await first.Inbox.OpenAsync(FolderAccess.ReadWrite, Ct);
        await first.Inbox.AddFlagsAsync(0, MessageFlags.Deleted, true, Ct);
        await second.Inbox.OpenAsync(FolderAccess.ReadWrite, Ct);
        await second.Inbox.RemoveFlagsAsync(0, MessageFlags.Deleted, true, Ct); // the phone changed its mind
        await first.Inbox.ExpungeAsync(Ct); // the desktop has not heard of it yet
        Assert.Equal(1, first.Inbox.Count);
        Assert.Single(Directory.GetFiles(Inbox(engine, "cur")));
        await first.DisconnectAsync(true, Ct);
        await second.DisconnectAsync(true, Ct);
    }

    [Fact]
    public async Task Envelope_and_bodystructure_are_parsed_at_delivery_and_read_from_the_structure_file_after_a_restart_and_a_copy()
    {
        const string multipart = "From: Alice <alice@client.test>\r\nSubject: cached\r\nMIME-Version: 1.0\r\n"
            + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
            + "--b\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--";
        string dataDir;
        await using (var first = await Accounts.WithMailAsync("imap-structure", multipart))
        {
            dataDir = first.DataDir;
            using var imap = await LoginAsync(first);
            await imap.Inbox.OpenAsync(FolderAccess.ReadWrite, Ct);
            await imap.Inbox.CopyToAsync(new UniqueId(1), await imap.GetFolderAsync("Archive", Ct), Ct);
            await imap.DisconnectAsync(true, Ct);
        }
        // Written at delivery (and at the COPY), before any FETCH asked for it.
        Assert.True(new FileInfo(Inbox(dataDir, "engine.cache")).Length > 100);
        Assert.True(new FileInfo(Path.Combine(Inbox(dataDir, ".Archive"), "engine.cache")).Length > 100);

        // The files go (behind the engine's back) and the engine restarts: ENVELOPE and BODYSTRUCTURE still come,
        // from the structure file; the text cannot.
        foreach (var file in Directory.GetFiles(Inbox(dataDir, "new")).Concat(Directory.GetFiles(Path.Combine(Inbox(dataDir, ".Archive"), "cur"))))
            File.Delete(file);
        await using var engine = await EngineInstance.StartInAsync(dataDir);
        using var again = await LoginAsync(engine);
        foreach (var name in (string[])["INBOX", "Archive"])
        {
            var folder = await again.GetFolderAsync(name, Ct);
            await folder.OpenAsync(FolderAccess.ReadOnly, Ct);
            var summary = (await folder.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.BodyStructure, Ct)).Single();
            Assert.Equal("cached", summary.Envelope!.Subject);
            Assert.Equal("Alice", ((MimeKit.MailboxAddress)summary.Envelope.From[0]).Name);
            Assert.Equal("multipart/mixed", summary.Body!.ContentType.MimeType.ToLowerInvariant());
            Assert.Equal("a.pdf", ((BodyPartBasic)((BodyPartMultipart)summary.Body).BodyParts[1]).FileName);
            await Assert.ThrowsAnyAsync<Exception>(() => folder.GetMessageAsync(0, Ct));
        }
        await again.DisconnectAsync(true, Ct);
    }

    [Fact]
    public async Task When_most_structure_records_are_of_expunged_messages_the_file_is_compacted_and_the_rest_still_read_from_it()
    {
        string dataDir;
        await using (var engine = await Accounts.WithMailAsync("imap-compact"))
        {
            dataDir = engine.DataDir;
            var file = Path.Combine(Inbox(engine, ".Bulk"), "engine.cache");
            using var imap = await LoginAsync(engine);
            var bulk = (await imap.GetFolder(imap.PersonalNamespaces[0]).CreateAsync("Bulk", true, Ct))!;
            await bulk.AppendAsync(new AppendRequest(new MimeKit.MimeMessage { Subject = "bulk", Body = new MimeKit.TextPart("plain") { Text = "x" } }), Ct);
            await bulk.OpenAsync(FolderAccess.ReadWrite, Ct);
            for (var copies = 0; copies < 10; copies++) // COPY into the folder itself, each time doubling it: 1,024 messages
                await bulk.CopyToAsync(await bulk.SearchAsync(MailKit.Search.SearchQuery.All, Ct), bulk, Ct);
            Assert.Equal(1024, bulk.Count);
            var full = new FileInfo(file).Length;

            await bulk.AddFlagsAsync(Enumerable.Range(0, 1023).ToList(), MessageFlags.Deleted, true, Ct);
            await bulk.ExpungeAsync(Ct);
            await WaitUntilAsync(() => new FileInfo(file).Length < full / 100);
            await imap.DisconnectAsync(true, Ct);
        }

        // The message left is found at its new offset, even without its file, and so after a restart (the offsets are journaled).
        foreach (var message in Directory.GetFiles(Path.Combine(Inbox(dataDir, ".Bulk"), "cur")))
            File.Delete(message);
        await using var again = await EngineInstance.StartInAsync(dataDir);
        using var client = await LoginAsync(again);
        var folder = await client.GetFolderAsync("Bulk", Ct);
        await folder.OpenAsync(FolderAccess.ReadOnly, Ct);
        var summary = (await folder.FetchAsync(0, -1, MessageSummaryItems.UniqueId | MessageSummaryItems.Envelope | MessageSummaryItems.BodyStructure, Ct)).Single();
        Assert.Equal("bulk", summary.Envelope!.Subject);
        Assert.Equal(1024u, summary.UniqueId.Id);
        Assert.Equal("text/plain", summary.Body!.ContentType.MimeType.ToLowerInvariant());
        await client.DisconnectAsync(true, Ct);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(50, Ct);
        }
    }

    [Fact]
    public async Task Python_imaplib_searches_fetches_stores_and_expunges()
    {
        await using var engine = await Accounts.WithMailAsync("imap-imaplib", "Subject: first\r\n\r\none", "Subject: second\r\n\r\ntwo");
        var script = Path.Combine(AppContext.BaseDirectory, "Clients", "imaplib_session.py");
        var run = await Processes.RunAsync("python3", [script, engine.ImapPort.ToString(), "jane@campus.test", Accounts.Password]);
        Assert.True(run.ExitCode == 0, run.Error);
        using var json = JsonDocument.Parse(run.Output);
        var root = json.RootElement;
        Assert.Contains("IDLE", root.GetProperty("capabilities").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal("OK", root.GetProperty("login").GetString());
        Assert.Equal(2, root.GetProperty("exists").GetInt32());
        Assert.Equal(["1", "2"], root.GetProperty("unseen").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["2"], root.GetProperty("subject").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("Subject: first\r\n\r\n", root.GetProperty("header").GetString());
        Assert.EndsWith("Subject: second\r\n\r\ntwo\r\n", Encoding.ASCII.GetString(Convert.FromHexString(root.GetProperty("rfc822").GetString()!)));
        Assert.Contains("\\Seen", root.GetProperty("seen_after_fetch").GetString());
        Assert.Contains("\\Deleted", root.GetProperty("store")[0].GetString());
        Assert.Equal(["1"], root.GetProperty("expunged").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["1"], root.GetProperty("after").EnumerateArray().Select(e => e.GetString()));
    }

    /// <summary>Bad input over a raw socket: each gets its answer and the session goes on.</summary>
    [Fact]
    public async Task Bad_input_gets_BAD_or_NO_and_the_session_goes_on()
    {
        await using var engine = await Accounts.WithMailAsync("imap-bad", "Subject: x\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\nbroken mime\r\n");
        using var raw = await RawImap.GreetedAsync(engine.ImapPort);
        var Exchange = raw.ExchangeAsync;
        Assert.Contains("a1 BAD", await Exchange("a1 FROB\r\n", "a1"));
        Assert.Contains("a2 BAD", await Exchange("a2 SELECT INBOX\r\n", "a2")); // not logged in
        Assert.Contains("* BAD", await Exchange("(((\r\n", "*"));
        Assert.Contains("a3 NO [TOOBIG]", await Exchange("a3 LOGIN {2147483648}\r\n", "a3")); // refused before a byte of it is sent
        Assert.Contains("a4 OK", await Exchange($"a4 LOGIN jane@campus.test \"{Accounts.Password}\"\r\n", "a4"));
        Assert.Contains("* 1 EXISTS", await Exchange("a5 SELECT INBOX\r\n", "a5"));
        Assert.Contains("a6 BAD", await Exchange("a6 FETCH 0:x FLAGS\r\n", "a6"));
        Assert.Contains("a7 BAD", await Exchange("a7 FETCH 1 (BODY[1.0])\r\n", "a7"));
        Assert.Contains("BODY[1.2.3.4.5] NIL", await Exchange("a8 FETCH 1 (BODY.PEEK[1.2.3.4.5])\r\n", "a8"));
        var whole = await Exchange("a9 FETCH 1 (BODY.PEEK[] BODYSTRUCTURE)\r\n", "a9");
        Assert.Contains("broken mime", whole);
        Assert.Contains("a9 OK", whole);
        Assert.Contains("a10 BAD", await Exchange("a10 STORE 1 +FLAGS (\\Bogus)\r\n", "a10"));
        Assert.Contains("a11 BAD", await Exchange("a11 SEARCH NOSUCHKEY\r\n", "a11"));
        Assert.Contains("a12 NO [BADCHARSET", await Exchange("a12 SEARCH CHARSET KOI8-R ALL\r\n", "a12"));
        Assert.Contains("a13 OK", await Exchange("a13 NOOP\r\n", "a13"));
    }

    [Fact]
    public async Task Fetch_1_to_star_on_an_empty_mailbox_is_BAD_and_UID_FETCH_is_empty()
    {
        await using var engine = await Accounts.WithMailAsync("imap-empty");
        var (client, stream, reader) = await GreetedAsync(engine);
        using var owned = client;
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"a LOGIN jane@campus.test \"{Accounts.Password}\"\r\nb SELECT INBOX\r\nc FETCH 1:* FLAGS\r\nd UID FETCH 1:* FLAGS\r\ne LOGOUT\r\n"), Ct);
        var all = await reader.ReadToEndAsync(Ct);
        Assert.Contains("* 0 EXISTS", all);
        Assert.Contains("c BAD", all);
        Assert.Contains("d OK", all);
        Assert.DoesNotContain("FETCH (", all);
        Assert.Contains("e OK", all);
    }

    [Fact]
    public async Task Three_bad_logins_are_delayed_and_end_the_session()
    {
        await using var engine = await Accounts.WithMailAsync("imap-logins");
        var (client, stream, reader) = await GreetedAsync(engine);
        using var owned = client;
        var clock = Stopwatch.StartNew();
        await stream.WriteAsync("a LOGIN jane@campus.test wrong\r\nb LOGIN jane@campus.test wrong\r\nc LOGIN jane@campus.test wrong\r\n"u8.ToArray(), Ct);
        var all = await reader.ReadToEndAsync(Ct);
        Assert.Contains("a NO [AUTHENTICATIONFAILED]", all);
        Assert.Contains("b NO [AUTHENTICATIONFAILED]", all);
        Assert.Contains("* BYE", all);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(1200 - 100), "200 + 400 + 600 ms of delays"); // the delays, not their speed
        Assert.Contains(engine.Logs.Lines, l => l.Contains("Aborted login (auth failed, 3 attempts)", StringComparison.Ordinal));
    }
}
