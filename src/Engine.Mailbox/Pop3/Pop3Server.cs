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
using Engine.Storage.Maildir;
using Microsoft.Extensions.Logging;

namespace Engine.Mailbox.Pop3;

/// <summary>
/// The POP3 service of a node (RFC 1939): one <see cref="Pop3Connection"/> per session. Stopping it closes
/// the sessions; a session that had not reached QUIT removes nothing (RFC 1939 section 6: no UPDATE without QUIT).
/// </summary>
public sealed class Pop3Server(IRequiredActor<MailboxRegionKey> mailboxes, IRecipientDirectory directory, MaildirStore maildir, ServerTls tls, LoginGuard guard,
    AccessSettings settings, ILoggerFactory loggers, ProxyProtocol? proxy = null)
    : AccessServer(mailboxes, settings, loggers.CreateLogger("Engine.Pop3"), "pop3", proxy)
{
    private readonly ILogger _log = loggers.CreateLogger("Engine.Pop3");

    protected override Task RunSessionAsync(Socket socket, IPAddress remote, IActorRef mailboxes, bool implicitTls, CancellationToken stop) =>
        new Pop3Connection(socket, remote, Settings, mailboxes, directory, maildir, tls, implicitTls, Settings.Mechanisms, guard, _log).RunAsync(stop);

    protected override byte[] Refusal(string reason) => Encoding.ASCII.GetBytes($"-ERR [SYS/TEMP] {reason}\r\n");
}
