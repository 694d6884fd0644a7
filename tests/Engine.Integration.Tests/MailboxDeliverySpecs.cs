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
/// a crash, and not journaled, is not written again, even when a reader has since moved the file to cur/ with a flag.
/// </summary>
public sealed class MailboxDeliverySpecs
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_delivery_whose_file_survived_a_crash_is_journaled_without_a_second_file()
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

            // Two spooled messages. The first one's file is in the Maildir already, as a crash after the write
            // would leave it, and a reader (Dovecot) has moved it to cur/ and marked it seen.
            var survivor = await SpoolAsync(blobs, "Subject: survivor\r\n\r\nwritten before the crash\r\n");
            var fresh = await SpoolAsync(blobs, "Subject: fresh\r\n\r\nnot written yet\r\n");
            var prefix = Encoding.UTF8.GetBytes($"Return-Path: <alice@client.test>\r\nDelivered-To: {account}\r\n");
            var size = prefix.Length + survivor.Body.Length;
            var name = MaildirStore.NameFor(survivor.Id.Time, survivor.Id.Value, survivor.Key, size);
            var inbox = maildir.Ensure(account);
            await File.WriteAllBytesAsync(Path.Combine(inbox, "cur", name + ":2,S"), [.. prefix, .. survivor.Body], Ct);

            foreach (var message in (Spooled[])[survivor, fresh])
            {
                var reply = await mailbox.Ask<object>(new MailboxCommands.Deliver(account, message.Key, message.BlobRef, "alice@client.test", account),
                    TimeSpan.FromSeconds(30), Ct);
                Assert.IsType<MailboxReplies.Delivered>(reply);
            }

            var files = Directory.GetFiles(Path.Combine(inbox, "new")).Concat(Directory.GetFiles(Path.Combine(inbox, "cur")))
                .Select(Path.GetFileName).Order().ToArray();
            Assert.Equal(2, files.Length);
            Assert.Contains(name + ":2,S", files); // the survivor once, where the reader left it
            Assert.Single(files, f => f!.Contains($"Q{fresh.Id.Value}K", StringComparison.Ordinal) && !f.Contains(':', StringComparison.Ordinal));
            var listed = await mailbox.Ask<MailboxReplies.Listing>(new MailboxCommands.List(account), TimeSpan.FromSeconds(30), Ct);
            Assert.Equal(2, listed.Messages.Count);
            Assert.Contains(listed.Messages, m => m.FileName == name);
        }
        finally
        {
            await host.StopAsync(Ct);
        }
    }

    private sealed record Spooled(QueueId Id, string Key, string BlobRef, byte[] Body);

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
