using Akka.Actor;
using Akka.Configuration;
using Engine.Messages.Mailbox;
using Engine.Storage.Blobs;
using Engine.Storage.Maildir;
using Engine.Storage.Sql;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Engine.Host.Cli;

/// <summary>
/// <c>engine mailbox import ACCOUNT MAILDIR</c>: migration from Dovecot. The account's mailbox entity reads the
/// Maildir++ tree, links its files in and journals its folders with the UIDVALIDITY, UIDs, flags and keywords
/// Dovecot had (see <c>DovecotMaildir</c>). Run it before the account is served by a node (or with the
/// node stopped): the command runs the entity in its own actor system, on the engine's journal.
/// Exit codes: 0 done, 1 refused, 2 usage.
/// </summary>
public static class MailboxCommands
{
    public const string Usage = """
          mailbox import ADDRESS MAILDIR             (a Dovecot Maildir++ tree: UIDs, flags and keywords kept)

        """;

    public static int Run(Config config, IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Count != 4 || args[1] != "import")
        {
            stderr.Write(AccountCommands.Usage + Usage);
            return 2;
        }
        var account = args[2].ToLowerInvariant();
        var path = Path.GetFullPath(args[3]);
        if (EngineHost.OpenDirectory(config).Load().FindUser(account) is null)
        {
            stderr.WriteLine($"engine: {account} is not a user of the directory");
            return 1;
        }
        using var host = EngineHost.BuildTool(config);
        host.Start();
        try
        {
            var system = host.Services.GetRequiredService<ActorSystem>();
            var mailbox = system.ActorOf(Mailbox.Mailbox.Props(account, host.Services.GetRequiredService<MaildirStore>(),
                host.Services.GetRequiredService<IBlobStore>(), sync: host.Services.GetRequiredService<JournalSync>()));
            var timeout = TimeSpan.FromHours(1);
            var done = mailbox.Ask<MailboxReplies.FolderDone>(new Messages.Mailbox.MailboxCommands.Import(account, path), timeout).GetAwaiter().GetResult();
            if (done.Error is { } error)
            {
                stderr.WriteLine($"engine: import refused: {error}");
                return 1;
            }
            // The journal's commits are durable once its WAL is synced (JournalSync): before saying it is done.
            host.Services.GetRequiredService<JournalSync>().SyncAsync().GetAwaiter().GetResult();
            var folders = mailbox.Ask<MailboxReplies.FolderList>(new Messages.Mailbox.MailboxCommands.Folders(account), timeout).GetAwaiter().GetResult();
            foreach (var folder in folders.Folders)
                stdout.WriteLine($"{folder.Name}: {folder.Messages} messages, UIDVALIDITY {folder.UidValidity}, UIDNEXT {folder.UidNext}");
            return 0;
        }
        finally
        {
            host.StopAsync().GetAwaiter().GetResult();
        }
    }
}
