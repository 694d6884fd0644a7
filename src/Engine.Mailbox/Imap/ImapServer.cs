using System.Net;
using System.Net.Sockets;
using System.Text;
using Akka.Actor;
using Akka.Hosting;
using Engine.Mailbox.Access;
using Engine.Messages.Mailbox;
using Engine.Network;
using Engine.Network.Proxy;
using Engine.Network.Tls;
using Engine.Storage.Accounts;
using Engine.Storage.Blobs;
using Engine.Storage.Maildir;
using Microsoft.Extensions.Logging;

namespace Engine.Mailbox.Imap;

/// <summary>The IMAP service of a node (RFC 3501, RFC 9051): one <see cref="ImapConnection"/> per session.</summary>
public sealed class ImapServer(IRequiredActor<MailboxRegionKey> mailboxes, ActorSystem system, IRecipientDirectory directory, MaildirStore maildir,
    IBlobStore blobs, ServerTls tls, LoginGuard guard, ImapSettings imap, ILoggerFactory loggers, ProxyProtocol? proxy = null)
    : AccessServer(mailboxes, imap.Access, loggers.CreateLogger("Engine.Imap"), "imap", proxy)
{
    private readonly ILogger _log = loggers.CreateLogger("Engine.Imap");

    protected override Task RunSessionAsync(Socket socket, IPAddress remote, IActorRef mailboxes, bool implicitTls, CancellationToken stop) =>
        new ImapConnection(socket, remote, imap, mailboxes, system, directory, maildir, blobs, tls, implicitTls, guard, _log).RunAsync(stop);

    protected override byte[] Refusal(string reason) => Encoding.ASCII.GetBytes($"* BYE [UNAVAILABLE] {reason}\r\n");
}
