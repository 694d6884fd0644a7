using System.Text;
using Akka.Actor;
using Engine.Host;
using Engine.Integration.Tests.Support;
using Engine.Messages.Mailbox;
using Engine.Primitives;
using Engine.Storage.Blobs;
using Engine.Storage.Maildir;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Engine.Integration.Tests;

/// <summary>
/// The mailbox entity on the engine's own journal (the host the CLI uses): a delivery whose file was written before
/// a crash, and not journaled, is not written again, even when a reader has since moved the file to cur/ with a flag;
/// one that a reader deleted after the mailbox listed the folder is written again.
/// </summary>
public sealed class MailboxDeliverySpecs
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_delivery_whose_file_survived_a_crash_is_journaled_without_a_second_file_and_one_deleted_since_is_written_again()
    {
        const string account = "jane@campus.test";
        var dataDir = Accounts.WithJane("mailbox-delivery");
        using var host = EngineHost.BuildTool(EngineConfig.Load(null, [$"engine.data-dir = \"{dataDir}\""]));
        await host.StartAsync(Ct);
        try
        {
            var maildir = host.Services.GetRequiredService<MaildirStore>();
            var blobs = host.Services.GetRequiredService<IBlobStore>();
            var mailbox = host.Services.GetRequiredService<ActorSystem>().ActorOf(Engine.Mailbox.Mailbox.Props(account, maildir, blobs));

            // Three spooled messages. Two files are in the Maildir already, as a crash after their writes would leave
            // them: a reader (Dovecot) has moved the survivor to cur/ and marked it seen, and it deletes the other one
            // after the mailbox has listed the folder.
            var survivor = await SpoolAsync(blobs, "Subject: survivor\r\n\r\nwritten before the crash\r\n");
            var vanished = await SpoolAsync(blobs, "Subject: vanished\r\n\r\nwritten, then deleted by a reader\r\n");
            var fresh = await SpoolAsync(blobs, "Subject: fresh\r\n\r\nnot written yet\r\n");
            var prefix = Encoding.UTF8.GetBytes($"Return-Path: <alice@client.test>\r\nDelivered-To: {account}\r\n");
            var inbox = maildir.Ensure(account);
            var survivorName = NameOf(survivor, prefix);
            var vanishedFile = Path.Combine(inbox, "new", NameOf(vanished, prefix));
            await File.WriteAllBytesAsync(Path.Combine(inbox, "cur", survivorName + ":2,S"), [.. prefix, .. survivor.Body], Ct);
            await File.WriteAllBytesAsync(vanishedFile, [.. prefix, .. vanished.Body], Ct);

            await DeliverAsync(mailbox, fresh); // the first delivery lists the folder
            File.Delete(vanishedFile);
            await DeliverAsync(mailbox, survivor);
            await DeliverAsync(mailbox, vanished);

            var files = Directory.GetFiles(Path.Combine(inbox, "new")).Concat(Directory.GetFiles(Path.Combine(inbox, "cur")))
                .Select(Path.GetFileName).Order().ToArray();
            Assert.Equal(3, files.Length);
            Assert.Contains(survivorName + ":2,S", files); // the survivor once, where the reader left it
            Assert.Single(files, f => f!.Contains($"Q{fresh.Id.Value}K", StringComparison.Ordinal) && !f.Contains(':', StringComparison.Ordinal));
            Assert.True(File.Exists(vanishedFile), "the deleted leftover was not written again");
            var written = await File.ReadAllBytesAsync(vanishedFile, Ct);
            Assert.Equal(prefix.Concat(vanished.Body), written);
            var listed = await mailbox.Ask<MailboxReplies.Listing>(new MailboxCommands.List(account), TimeSpan.FromSeconds(30), Ct);
            Assert.Equal(3, listed.Messages.Count);
            Assert.Contains(listed.Messages, m => m.FileName == survivorName);
        }
        finally
        {
            await host.StopAsync(Ct);
        }
    }

    private sealed record Spooled(QueueId Id, string Key, string BlobRef, byte[] Body);

    private static string NameOf(Spooled message, byte[] prefix) =>
        MaildirStore.NameFor(message.Id.Time, message.Id.Value, message.Key, prefix.Length + message.Body.Length);

    private static async Task DeliverAsync(IActorRef mailbox, Spooled message)
    {
        var reply = await mailbox.Ask<object>(new MailboxCommands.Deliver("jane@campus.test", message.Key, message.BlobRef, "alice@client.test",
            "jane@campus.test"), TimeSpan.FromSeconds(30), Ct);
        Assert.IsType<MailboxReplies.Delivered>(reply);
    }

    private static async Task<Spooled> SpoolAsync(IBlobStore blobs, string text)
    {
        var id = QueueId.New();
        var body = Encoding.ASCII.GetBytes(text);
        await using var writer = blobs.Create(id);
        await writer.WriteAsync(body, Ct);
        await writer.CommitAsync(Ct);
        return new Spooled(id, $"{id}/jane@campus.test", writer.Ref, body);
    }
}
