using Akka.Actor;
using Akka.Cluster;
using Engine.Integration.Tests.Support;
using MailKit;
using MailKit.Net.Imap;
using Microsoft.Extensions.DependencyInjection;

namespace Engine.Integration.Tests;

/// <summary>
/// Two nodes over real Akka remoting on loopback, sharing one data folder (the Maildirs and spool as a farm
/// shares them over NFS): the first hosts the mailboxes, the second none, so its IMAP sessions reach the
/// mailbox entity on the first node.
/// </summary>
public sealed class ImapClusterSpecs
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<ImapClient> LoginAsync(EngineInstance node)
    {
        var imap = new ImapClient();
        await imap.ConnectAsync("127.0.0.1", node.ImapPort, MailKit.Security.SecureSocketOptions.None, Ct);
        await imap.AuthenticateAsync("jane@campus.test", Accounts.Password, Ct);
        await imap.Inbox.OpenAsync(FolderAccess.ReadWrite, Ct);
        return imap;
    }

    [Fact]
    public async Task A_session_on_a_node_without_the_mailbox_gets_new_mail_in_IDLE_and_other_sessions_flags_and_expunges()
    {
        var dataDir = Accounts.WithJane("imap-two-nodes");
        Accounts.DirectoryOf(dataDir).SetPassword("jane@campus.test", Engine.Storage.Accounts.PasswordHasher.Hash(Accounts.Password, Accounts.TestCost));
        var (first, second) = await EngineInstance.StartTwoAsync(dataDir, [], "engine.cluster.roles = [imap]");
        await using var firstNode = first;
        await using var secondNode = second;
        await Accounts.DeliverAsync(first, "Subject: before\r\n\r\nfirst");
        var cluster = Cluster.Get(second.Services.GetRequiredService<ActorSystem>());
        Assert.DoesNotContain("mailbox", cluster.SelfMember.Roles); // its mailbox region is a proxy
        Assert.Equal((0, 0, 0), (second.Port, second.Pop3Port, second.AdminPort)); // an imap node: no SMTP, POP3 or admin listener
        Assert.Contains(cluster.State.Members, m => m.Address != cluster.SelfAddress && m.Roles.Contains("mailbox"));

        using var remote = await LoginAsync(second);
        using var local = await LoginAsync(first);
        Assert.Equal(1, remote.Inbox.Count);

        // New mail, delivered on the first node, reaches the session on the second while it idles.
        var arrived = new TaskCompletionSource<int>();
        remote.Inbox.CountChanged += (_, _) => arrived.TrySetResult(remote.Inbox.Count);
        using var done = new CancellationTokenSource();
        var idle = remote.IdleAsync(done.Token, Ct);
        await Accounts.DeliverAsync(first, "Subject: during\r\n\r\nsecond");
        Assert.Equal(2, await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        await done.CancelAsync();
        await idle;

        // A flag set and a message expunged by a session on the first node are announced on the second.
        var flagged = new List<int>();
        var expunged = new List<int>();
        remote.Inbox.MessageFlagsChanged += (_, e) => flagged.Add(e.Index);
        remote.Inbox.MessageExpunged += (_, e) => expunged.Add(e.Index);
        await local.NoOpAsync(Ct);
        await local.Inbox.AddFlagsAsync(1, MessageFlags.Flagged, true, Ct);
        await local.Inbox.AddFlagsAsync(0, MessageFlags.Deleted, true, Ct);
        await local.Inbox.ExpungeAsync(Ct);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (expunged.Count == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "no expunge reached the second node");
            await remote.NoOpAsync(Ct);
        }
        Assert.Contains(1, flagged);
        Assert.Equal([0], expunged);

        // And the other way: a STORE on the second node is journaled by the entity on the first.
        await remote.Inbox.AddFlagsAsync(0, MessageFlags.Seen, true, Ct);
        await local.NoOpAsync(Ct);
        var summary = (await local.Inbox.FetchAsync(0, -1, MessageSummaryItems.Flags | MessageSummaryItems.Envelope, Ct)).Single();
        Assert.Equal("during", summary.Envelope!.Subject);
        Assert.Equal(MessageFlags.Seen | MessageFlags.Flagged, summary.Flags);
        await remote.DisconnectAsync(true, Ct);
        await local.DisconnectAsync(true, Ct);
    }
}
