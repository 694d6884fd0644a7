using Engine.Integration.Tests.Support;
using MailKit;
using MailKit.Net.Imap;
using MimeKit;

namespace Engine.Integration.Tests;

/// <summary>Folders over IMAP with MailKit: special-use defaults, CREATE, RENAME, DELETE, SUBSCRIBE, APPEND, COPY, MOVE; and Dovecot reading them.</summary>
public sealed class ImapFolderSpecs
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Maildir(EngineInstance engine) => Path.Combine(engine.DataDir, "mail", "campus.test", "jane");

    private static async Task<ImapClient> LoginAsync(int port, string password = Accounts.Password)
    {
        var imap = new ImapClient();
        await imap.ConnectAsync("127.0.0.1", port, MailKit.Security.SecureSocketOptions.None, Ct);
        await imap.AuthenticateAsync("jane@campus.test", password, Ct);
        return imap;
    }

    [Fact]
    public async Task Special_folders_exist_and_folders_can_be_created_renamed_subscribed_and_deleted()
    {
        await using var engine = await Accounts.WithMailAsync("imap-folders", "Subject: hi\r\n\r\nx");
        using var imap = await LoginAsync(engine.ImapPort);
        Assert.True(imap.Capabilities.HasFlag(ImapCapabilities.SpecialUse));
        Assert.Equal("Sent", imap.GetFolder(SpecialFolder.Sent)!.FullName);
        Assert.Equal("Trash", imap.GetFolder(SpecialFolder.Trash)!.FullName);
        Assert.Equal("Junk", imap.GetFolder(SpecialFolder.Junk)!.FullName);

        var root = imap.GetFolder(imap.PersonalNamespaces[0]);
        var work = (await root.CreateAsync("Work", true, Ct))!;
        var year = (await work.CreateAsync("2026", true, Ct))!;
        var cheese = (await root.CreateAsync("Käse", true, Ct))!; // modified UTF-7 on the wire and on disk, as Dovecot
        Assert.True(Directory.Exists(Path.Combine(Maildir(engine), ".Work.2026", "cur")));
        Assert.True(Directory.Exists(Path.Combine(Maildir(engine), ".K&AOQ-se", "cur")));
        var names = (await root.GetSubfoldersAsync(false, Ct)).Select(f => f.FullName).ToArray();
        Assert.Contains("Käse", names);
        Assert.Contains("Work", names);
        Assert.Equal(["Work/2026"], (await work.GetSubfoldersAsync(false, Ct)).Select(f => f.FullName));
        await Assert.ThrowsAsync<ImapCommandException>(() => root.CreateAsync("Bad.Name", true, Ct)); // '.' separates folders on disk
        await Assert.ThrowsAsync<ImapCommandException>(() => work.DeleteAsync(Ct)); // has children

        await year.AppendAsync(new AppendRequest(new MimeMessage { Subject = "kept", Body = new TextPart("plain") { Text = "y" } }), Ct);
        await work.RenameAsync(root, "Projects", Ct);
        Assert.True(Directory.Exists(Path.Combine(Maildir(engine), ".Projects.2026")));
        var moved = await imap.GetFolderAsync("Projects/2026", Ct);
        await moved.OpenAsync(FolderAccess.ReadOnly, Ct);
        Assert.Equal(1, moved.Count); // the children's messages went with them
        await moved.CloseAsync(false, Ct);

        await cheese.UnsubscribeAsync(Ct);
        var subscribed = (await imap.GetFoldersAsync(imap.PersonalNamespaces[0], subscribedOnly: true, cancellationToken: Ct)).Select(f => f.FullName).ToArray();
        Assert.DoesNotContain("Käse", subscribed);
        Assert.Contains("Sent", subscribed);
        await cheese.DeleteAsync(Ct);
        Assert.False(Directory.Exists(Path.Combine(Maildir(engine), ".K&AOQ-se")));
        Assert.DoesNotContain("Käse", (await root.GetSubfoldersAsync(false, Ct)).Select(f => f.FullName));
        await imap.DisconnectAsync(true, Ct);
    }

    [Fact]
    public async Task Append_copy_and_move_answer_with_uids_and_the_files_follow()
    {
        await using var engine = await Accounts.WithMailAsync("imap-copy", "Subject: one\r\n\r\n1", "Subject: two\r\n\r\n2", "Subject: three\r\n\r\n3");
        using var imap = await LoginAsync(engine.ImapPort);
        var sent = imap.GetFolder(SpecialFolder.Sent)!;
        var date = new DateTimeOffset(2026, 7, 1, 12, 30, 0, TimeSpan.FromHours(2));
        var appended = await sent.AppendAsync(new AppendRequest(new MimeMessage { Subject = "draft", Body = new TextPart("plain") { Text = "z" } },
            MessageFlags.Seen)
        { InternalDate = date }, Ct);
        Assert.Equal(1u, appended!.Value.Id); // APPENDUID
        Assert.Single(Directory.GetFiles(Path.Combine(Maildir(engine), ".Sent", "cur"), "*:2,S"));
        await sent.OpenAsync(FolderAccess.ReadOnly, Ct);
        var summary = (await sent.FetchAsync(0, -1, MessageSummaryItems.InternalDate | MessageSummaryItems.Flags, Ct)).Single();
        Assert.Equal(date, summary.InternalDate);
        Assert.Equal(MessageFlags.Seen, summary.Flags);

        var inbox = imap.Inbox;
        await inbox.OpenAsync(FolderAccess.ReadWrite, Ct);
        var uids = await inbox.SearchAsync(MailKit.Search.SearchQuery.All, Ct);
        await inbox.AddFlagsAsync(uids[0], MessageFlags.Flagged, true, Ct);
        var archive = imap.GetFolder(SpecialFolder.Archive)!;
        var copied = await inbox.CopyToAsync([uids[0], uids[1]], archive, Ct);
        Assert.Equal([1u, 2u], copied.Destination.Select(u => u.Id)); // COPYUID
        Assert.Equal(3, inbox.Count);
        var trash = imap.GetFolder(SpecialFolder.Trash)!;
        var expunged = new List<int>();
        inbox.MessageExpunged += (_, e) => expunged.Add(e.Index);
        var movedUid = await inbox.MoveToAsync(uids[2], trash, Ct);
        Assert.Equal(1u, movedUid!.Value.Id);
        Assert.Equal([2], expunged);
        Assert.Equal(2, inbox.Count);

        // Copies are hard links in the target's cur/ with the flags in the name; the move left INBOX.
        Assert.Single(Directory.GetFiles(Path.Combine(Maildir(engine), ".Archive", "cur"), "*:2,F"));
        Assert.Single(Directory.GetFiles(Path.Combine(Maildir(engine), ".Trash", "cur")));
        Assert.Equal(2, Directory.GetFiles(Path.Combine(Maildir(engine), "cur")).Length + Directory.GetFiles(Path.Combine(Maildir(engine), "new")).Length);
        await archive.OpenAsync(FolderAccess.ReadOnly, Ct);
        var subjects = await archive.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.Flags, Ct);
        Assert.Equal(["one", "two"], subjects.Select(s => s.Envelope!.Subject));
        Assert.Equal(MessageFlags.Flagged, subjects[0].Flags);
        await imap.DisconnectAsync(true, Ct);
    }

    [Fact]
    public async Task Renaming_INBOX_moves_its_messages_to_a_new_folder_and_leaves_INBOX_empty()
    {
        await using var engine = await Accounts.WithMailAsync("imap-rename-inbox", "Subject: one\r\n\r\n1", "Subject: two\r\n\r\n2");
        using var imap = await RawImap.GreetedAsync(engine.ImapPort);
        Assert.Contains("a OK", await imap.ExchangeAsync($"a LOGIN jane@campus.test \"{Accounts.Password}\"\r\n", "a"));
        Assert.Contains("b OK", await imap.ExchangeAsync("b RENAME INBOX \"Old mail\"\r\n", "b"));
        Assert.Contains("(MESSAGES 0)", await imap.ExchangeAsync("c STATUS INBOX (MESSAGES)\r\n", "c"));
        Assert.Contains("(MESSAGES 2)", await imap.ExchangeAsync("d STATUS \"Old mail\" (MESSAGES)\r\n", "d"));
        Assert.Contains("d NO [ALREADYEXISTS]", await imap.ExchangeAsync("d RENAME INBOX \"Old mail\"\r\n", "d"));

        await Accounts.DeliverAsync(engine, "Subject: three\r\n\r\n3"); // new mail still goes to INBOX
        Assert.Contains("(MESSAGES 1)", await imap.ExchangeAsync("e STATUS INBOX (MESSAGES)\r\n", "e"));
        Assert.Empty(Directory.GetFiles(Path.Combine(Maildir(engine), "cur")));
        Assert.Equal(2, Directory.GetFiles(Path.Combine(Maildir(engine), ".Old mail", "cur")).Length);
    }

    [Fact]
    public async Task Dovecot_lists_the_engines_folders_and_sees_the_same_messages_seen_flags_and_keywords()
    {
        await using var engine = await Accounts.WithMailAsync("imap-dovecot", "Subject: one\r\n\r\n1", "Subject: two\r\n\r\n2");
        using (var imap = await LoginAsync(engine.ImapPort))
        {
            var root = imap.GetFolder(imap.PersonalNamespaces[0]);
            var work = (await root.CreateAsync("Work", true, Ct))!;
            await imap.Inbox.OpenAsync(FolderAccess.ReadWrite, Ct);
            await imap.Inbox.AddFlagsAsync(0, MessageFlags.Seen, true, Ct);
            // Keywords too: Dovecot reads them from the letters after the flags, through dovecot-keywords.
            await imap.Inbox.AddFlagsAsync(0, MessageFlags.None, new HashSet<string> { "Project-X" }, true, Ct);
            await imap.Inbox.AddFlagsAsync(1, MessageFlags.None, new HashSet<string> { "$Label1", "Project-X" }, true, Ct);
            await imap.Inbox.CopyToAsync([(await imap.Inbox.SearchAsync(MailKit.Search.SearchQuery.All, Ct))[0]], work, Ct);
            await imap.DisconnectAsync(true, Ct);
        }
        await DovecotServer.HandOverAsync(Path.Combine(engine.DataDir, "mail", "campus.test"));
        await using var dovecot = await DovecotServer.StartAsync(Path.Combine(engine.DataDir, "mail"), "jane@campus.test", Accounts.Password);
        using var other = await LoginAsync(dovecot.Port);
        var folders = (await other.GetFoldersAsync(other.PersonalNamespaces[0], cancellationToken: Ct)).Select(f => f.FullName).ToArray();
        Assert.True(folders.Contains("Work"), string.Join(",", folders));
        Assert.Contains("Sent", folders);
        await other.Inbox.OpenAsync(FolderAccess.ReadOnly, Ct);
        var inbox = await other.Inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.Flags, Ct);
        Assert.Equal([("one", MessageFlags.Seen), ("two", MessageFlags.None)],
            inbox.OrderBy(s => s.Envelope!.Subject, StringComparer.Ordinal).Select(s => (s.Envelope!.Subject, s.Flags!.Value & ~MessageFlags.Recent)));
        Assert.Equal(["Project-X|", "$Label1|Project-X|"], inbox.OrderBy(s => s.Envelope!.Subject, StringComparer.Ordinal)
            .Select(s => string.Concat(s.Keywords.Order(StringComparer.Ordinal).Select(k => k + "|"))));
        var copy = await other.GetFolderAsync("Work", Ct);
        await copy.OpenAsync(FolderAccess.ReadOnly, Ct);
        var work2 = (await copy.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.Flags, Ct)).Single();
        Assert.Equal("one", work2.Envelope!.Subject);
        Assert.Equal(MessageFlags.Seen, work2.Flags!.Value & ~MessageFlags.Recent);
        Assert.Equal(["Project-X"], work2.Keywords);
        await other.DisconnectAsync(true, Ct);
    }

    [Fact]
    public async Task Mutt_reads_the_engines_maildir_with_its_read_flagged_and_unread_messages()
    {
        await using var engine = await Accounts.WithMailAsync("mutt", "Subject: one\r\n\r\n1", "Subject: two\r\n\r\n2", "Subject: three\r\n\r\n3");
        using (var imap = await LoginAsync(engine.ImapPort))
        {
            await imap.Inbox.OpenAsync(FolderAccess.ReadWrite, Ct);
            var uids = (await imap.Inbox.SearchAsync(MailKit.Search.SearchQuery.All, Ct)).ToArray();
            await imap.Inbox.AddFlagsAsync(uids[0], MessageFlags.Seen, true, Ct);
            await imap.Inbox.AddFlagsAsync(uids[1], MessageFlags.Flagged, true, Ct);
            await imap.DisconnectAsync(true, Ct);
        }
        // Mutt, as a user would run it on the Maildir (under script(1) for a terminal): each pattern's messages piped to a file.
        var work = Directory.CreateTempSubdirectory("mutt").FullName;
        string Out(string name) => Path.Combine(work, name);
        var muttrc = Path.Combine(work, "muttrc");
        await File.WriteAllLinesAsync(muttrc,
        [
            "set mbox_type=Maildir", "set read_only=yes", "set wait_key=no", "set quit=yes", "set pipe_split=no", "set beep=no",
            "set sort=date-received",
            $"push \"<tag-pattern>~R<enter><tag-prefix><pipe-message>cat > {Out("read")}<enter><untag-pattern>~A<enter>" +
            $"<tag-pattern>~F<enter><tag-prefix><pipe-message>cat > {Out("flagged")}<enter><untag-pattern>~A<enter>" +
            $"<tag-pattern>~U<enter><tag-prefix><pipe-message>cat > {Out("unread")}<enter><quit>\"",
        ], Ct);
        var inbox = Path.Combine(engine.DataDir, "mail", "campus.test", "jane");
        var mutt = await Processes.RunAsync("script", ["-qec", $"env TERM=xterm mutt -n -F {muttrc} -f {inbox}", "/dev/null"], TimeSpan.FromSeconds(30));
        Assert.True(mutt.ExitCode == 0, mutt.Output + mutt.Error);

        string[] Subjects(string name) => File.Exists(Out(name))
            ? File.ReadAllLines(Out(name)).Where(l => l.StartsWith("Subject: ", StringComparison.Ordinal)).Select(l => l[9..]).ToArray()
            : [];
        Assert.Equal(["one"], Subjects("read"));
        Assert.Equal(["two"], Subjects("flagged"));
        Assert.Equal(["three", "two"], Subjects("unread").Order(StringComparer.Ordinal));
    }

    private static MimeMessage Sized(string subject, int size) =>
        new() { Subject = subject, Body = new TextPart("plain") { Text = new string('x', size) } };

    [Fact]
    public async Task Multiappend_adds_every_message_in_one_command_or_none()
    {
        await using var engine = await Accounts.WithMailAsync("imap-multiappend");
        using var imap = await LoginAsync(engine.ImapPort);
        Assert.True(imap.Capabilities.HasFlag(ImapCapabilities.MultiAppend));
        var sent = imap.GetFolder(SpecialFolder.Sent)!;
        var date = new DateTimeOffset(2026, 7, 1, 12, 30, 0, TimeSpan.Zero);
        var uids = await sent.AppendAsync(new List<IAppendRequest>
        {
            new AppendRequest(Sized("first", 10), MessageFlags.Seen) { InternalDate = date },
            new AppendRequest(Sized("second", 10), MessageFlags.None),
            new AppendRequest(Sized("third", 10), MessageFlags.Flagged) { Keywords = new HashSet<string> { "Project-X" } },
        }, Ct);
        Assert.Equal([1u, 2u, 3u], uids.Select(u => u.Id));
        await sent.OpenAsync(FolderAccess.ReadOnly, Ct);
        var summaries = await sent.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.Flags | MessageSummaryItems.InternalDate, Ct);
        Assert.Equal(["first", "second", "third"], summaries.Select(s => s.Envelope!.Subject));
        Assert.Equal(date, summaries[0].InternalDate);
        Assert.Equal([MessageFlags.Seen, MessageFlags.None, MessageFlags.Flagged], summaries.Select(s => s.Flags!.Value & ~MessageFlags.Recent));
        Assert.Equal(["Project-X"], summaries[2].Keywords);
    }

    [Fact]
    public async Task A_multiappend_that_fails_part_way_leaves_nothing_in_the_folder()
    {
        var dataDir = TempDir.Create("imap-multiappend-quota");
        var directory = Accounts.DirectoryOf(dataDir);
        directory.AddDomain("campus.test");
        directory.AddUser("jane@campus.test", "Jane", Engine.Storage.Accounts.PasswordHasher.Hash(Accounts.Password, Accounts.TestCost), 4000);
        await using var engine = await EngineInstance.StartInAsync(dataDir);
        using var imap = await LoginAsync(engine.ImapPort);
        var sent = imap.GetFolder(SpecialFolder.Sent)!;
        // The first two fit in the quota; the third does not, after they were written.
        var refused = await Assert.ThrowsAsync<ImapCommandException>(() => sent.AppendAsync(new List<IAppendRequest>
        {
            new AppendRequest(Sized("first", 1000), MessageFlags.None),
            new AppendRequest(Sized("second", 1000), MessageFlags.None),
            new AppendRequest(Sized("third", 5000), MessageFlags.None),
        }, Ct));
        Assert.Contains("Quota", refused.ResponseText, StringComparison.OrdinalIgnoreCase);
        await sent.OpenAsync(FolderAccess.ReadOnly, Ct);
        Assert.Equal(0, sent.Count);
        Assert.Empty(Directory.GetFiles(Path.Combine(Maildir(engine), ".Sent", "cur")));
        Assert.Empty(Directory.GetFiles(Path.Combine(Maildir(engine), ".Sent", "new")));
    }
}
