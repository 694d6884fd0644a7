using Engine.Host;
using Engine.Integration.Tests.Support;
using MailKit;
using MailKit.Net.Imap;
using MimeKit;

namespace Engine.Integration.Tests;

/// <summary><c>engine mailbox import</c>: a Maildir that Dovecot wrote, served by the engine with the same UIDVALIDITY, UIDs, flags and keywords.</summary>
public sealed class MailboxImportSpecs
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static MimeMessage Message(string subject) => new() { Subject = subject, Body = new TextPart("plain") { Text = subject } };

    [Fact]
    public async Task A_dovecot_maildir_keeps_its_uids_flags_keywords_and_folders()
    {
        var root = TempDir.Create("dovecot-source");
        Directory.CreateDirectory(Path.Combine(root, "campus.test"));
        await DovecotServer.HandOverAsync(Path.Combine(root, "campus.test"));
        uint uidValidity;
        UniqueId[] uids;
        uint uidNext;
        await using (var dovecot = await DovecotServer.StartAsync(root, "jane@campus.test", Accounts.Password))
        {
            using var imap = new ImapClient();
            await imap.ConnectAsync("127.0.0.1", dovecot.Port, MailKit.Security.SecureSocketOptions.None, Ct);
            await imap.AuthenticateAsync("jane@campus.test", Accounts.Password, Ct);
            var inbox = imap.Inbox;
            await inbox.AppendAsync(new AppendRequest(Message("one"), MessageFlags.Seen), Ct);
            await inbox.AppendAsync(new AppendRequest(Message("two"), MessageFlags.None, ["$Work"]), Ct);
            await inbox.AppendAsync(new AppendRequest(Message("three")), Ct);
            await inbox.AppendAsync(new AppendRequest(Message("four"), MessageFlags.Answered | MessageFlags.Flagged), Ct);
            var root2 = imap.GetFolder(imap.PersonalNamespaces[0]);
            var sub = await (await root2.CreateAsync("Work", true, Ct))!.CreateAsync("Sub", true, Ct);
            await sub!.AppendAsync(new AppendRequest(Message("filed"), MessageFlags.Flagged), Ct);
            await inbox.OpenAsync(FolderAccess.ReadWrite, Ct);
            await inbox.AddFlagsAsync(2, MessageFlags.Deleted, true, Ct);
            await inbox.ExpungeAsync(Ct); // a gap in the UIDs
            uids = (await inbox.SearchAsync(MailKit.Search.SearchQuery.All, Ct)).ToArray();
            uidValidity = inbox.UidValidity;
            uidNext = inbox.UidNext!.Value.Id;
            await imap.DisconnectAsync(true, Ct);
        }

        var dataDir = Accounts.WithJane("import");
        Accounts.DirectoryOf(dataDir).SetPassword("jane@campus.test", Engine.Storage.Accounts.PasswordHasher.Hash(Accounts.Password, Accounts.TestCost));
        var config = EngineConfig.Load(null, [$"engine.data-dir = \"{dataDir}\""]);
        var output = new StringWriter();
        var errors = new StringWriter();
        var source = Path.Combine(root, "campus.test", "jane");
        Assert.True(Engine.Host.Cli.MailboxCommands.Run(config, ["mailbox", "import", "jane@campus.test", source], output, errors) == 0, errors.ToString());
        Assert.Contains("INBOX: 3 messages", output.ToString());
        Assert.Equal(1, Engine.Host.Cli.MailboxCommands.Run(config, ["mailbox", "import", "jane@campus.test", source], output, errors)); // not twice
        // Parsed at import: the structure file has a record for each message, ENVELOPE and BODYSTRUCTURE come from it.
        var imported = Path.Combine(dataDir, "mail", "campus.test", "jane");
        Assert.Contains("\"one\"", File.ReadAllText(Path.Combine(imported, "engine.cache")));
        Assert.Contains("\"filed\"", File.ReadAllText(Path.Combine(imported, ".Work.Sub", "engine.cache")));

        await using var engine = await EngineInstance.StartInAsync(dataDir);
        using var client = new ImapClient();
        await client.ConnectAsync("127.0.0.1", engine.ImapPort, MailKit.Security.SecureSocketOptions.None, Ct);
        await client.AuthenticateAsync("jane@campus.test", Accounts.Password, Ct);
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly, Ct);
        Assert.Equal(uidValidity, client.Inbox.UidValidity);
        Assert.Equal(uidNext, client.Inbox.UidNext!.Value.Id);
        var summaries = await client.Inbox.FetchAsync(0, -1, MessageSummaryItems.UniqueId | MessageSummaryItems.Flags | MessageSummaryItems.Envelope, Ct);
        Assert.Equal(uids, summaries.Select(s => s.UniqueId));
        Assert.Equal(["one", "two", "four"], summaries.Select(s => s.Envelope!.Subject));
        Assert.Equal(MessageFlags.Seen, summaries[0].Flags);
        Assert.Contains("$Work", summaries[1].Keywords);
        Assert.Equal(MessageFlags.Answered | MessageFlags.Flagged, summaries[2].Flags);
        var filed = await client.GetFolderAsync("Work/Sub", Ct);
        await filed.OpenAsync(FolderAccess.ReadOnly, Ct);
        Assert.Equal(MessageFlags.Flagged, (await filed.FetchAsync(0, -1, MessageSummaryItems.Flags, Ct)).Single().Flags);
        await filed.CloseAsync(false, Ct);

        // New mail continues after Dovecot's last UID.
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly, Ct);
        await Accounts.DeliverAsync(engine, "Subject: after\r\n\r\nnew");
        await client.NoOpAsync(Ct);
        var last = await client.Inbox.FetchAsync(client.Inbox.Count - 1, -1, MessageSummaryItems.UniqueId, Ct);
        Assert.Equal(uidNext, last.Single().UniqueId.Id);
        await client.DisconnectAsync(true, Ct);
    }
}
