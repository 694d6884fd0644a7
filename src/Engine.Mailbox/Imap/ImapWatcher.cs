using System.Threading.Channels;
using Akka.Actor;
using Engine.Messages.Mailbox;

namespace Engine.Mailbox.Imap;

/// <summary>
/// The actor of an IMAP session with a selected mailbox: the <c>Mailbox</c> entity (on whatever node) knows
/// the session by it and tells it the listing and every change; it hands them to the session's task.
/// The entity keeps its watchers in memory, so the watcher watches the entity in turn: when that incarnation ends
/// (its node died, its shard moved, it stopped on a journal failure) the watcher asks the region again, and the new
/// incarnation's listing reaches the session, which announces what changed meanwhile.
/// </summary>
internal sealed class ImapWatcher : UntypedActor, IWithTimers
{
    /// <summary>Ask again until a listing comes: a Watch that reached the old incarnation as it stopped is lost.</summary>
    private static readonly TimeSpan AskAgain = TimeSpan.FromSeconds(2);

    private sealed record Rewatch
    {
        public static readonly Rewatch Instance = new();
    }

    private readonly ChannelWriter<object> _session;
    private readonly IActorRef _mailboxes;
    private readonly MailboxCommands.Watch _watch;
    private IActorRef? _entity;

    public ITimerScheduler Timers { get; set; } = null!;

    public ImapWatcher(ChannelWriter<object> session, IActorRef mailboxes, MailboxCommands.Watch watch) =>
        (_session, _mailboxes, _watch) = (session, mailboxes, watch);

    public static Props Props(ChannelWriter<object> session, IActorRef mailboxes, MailboxCommands.Watch watch) =>
        Akka.Actor.Props.Create(() => new ImapWatcher(session, mailboxes, watch));

    protected override void PreStart() => _mailboxes.Tell(_watch, Self);

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case Terminated terminated when terminated.ActorRef.Equals(_entity):
                _entity = null;
                _mailboxes.Tell(_watch, Self);
                Timers.StartPeriodicTimer("rewatch", Rewatch.Instance, AskAgain);
                break;
            case Rewatch:
                _mailboxes.Tell(_watch, Self);
                break;
            case MailboxReplies.WatchAgain:
                _mailboxes.Tell(_watch, Self); // the entity restarted (same reference) and forgot its watchers
                Timers.StartPeriodicTimer("rewatch", Rewatch.Instance, AskAgain);
                break;
            case Terminated:
                break;
            default:
                if (message is MailboxReplies.Listing)
                {
                    if (!Sender.Equals(_entity) && !Sender.IsNobody())
                    {
                        if (_entity is not null)
                            Context.Unwatch(_entity);
                        _entity = Sender;
                        Context.Watch(_entity);
                    }
                    Timers.Cancel("rewatch");
                }
                _session.TryWrite(message);
                break;
        }
    }

    protected override void PostStop() => _session.TryComplete();
}
