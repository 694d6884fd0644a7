using System.Threading.Channels;
using Akka.Actor;

namespace Engine.Mailbox.Imap;

/// <summary>
/// The actor of an IMAP session with a selected mailbox: the <c>Mailbox</c> entity (on whatever node) knows
/// the session by it and tells it the listing and every change; it hands them to the session's task.
/// </summary>
internal sealed class ImapWatcher : UntypedActor
{
    private readonly ChannelWriter<object> _session;

    public ImapWatcher(ChannelWriter<object> session) => _session = session;

    public static Props Props(ChannelWriter<object> session) => Akka.Actor.Props.Create(() => new ImapWatcher(session));

    protected override void OnReceive(object message) => _session.TryWrite(message);

    protected override void PostStop() => _session.TryComplete();
}
