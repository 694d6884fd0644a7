using Akka.Actor;
using Engine.Filtering.Restrictions;
using Engine.Network;
using Engine.Storage.Accounts;
using Engine.Storage.Blobs;
using Microsoft.Extensions.Logging;

namespace Engine.Smtp.Server;

/// <summary>
/// The parent of every <see cref="SmtpSession"/> on this node. A session that fails is stopped (its
/// connection closes), never restarted with a half-known state. On shutdown it drains them.
/// </summary>
internal sealed class SmtpSessions(IActorRef queue, IBlobStore blobs, IRecipientDirectory directory, LoginGuard guard,
    SendRates rates, ClientRates clientRates, ILogger log) : UntypedActor
{

    /// <summary>A new connection, with the settings and restriction lists it keeps for its whole session.</summary>
    public sealed record Start(SmtpConnection Connection, SmtpSettings Settings, Restrictions Restrictions, Action Done);

    /// <summary>Drain every session; answer <see cref="Drained"/> when none is left.</summary>
    public sealed record Drain
    {
        public static readonly Drain Instance = new();
    }

    public sealed record AbortAll
    {
        public static readonly AbortAll Instance = new();
    }

    public sealed record Drained
    {
        public static readonly Drained Instance = new();
    }

    private readonly List<IActorRef> _waiting = [];

    private long _next;
    private bool _draining;

    public static Props Props(IActorRef queue, IBlobStore blobs, IRecipientDirectory directory, LoginGuard guard,
        SendRates rates, ClientRates clientRates, ILogger log) =>
        Akka.Actor.Props.Create(() => new SmtpSessions(queue, blobs, directory, guard, rates, clientRates, log));

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(e =>
    {
        Log.SessionError(log, e, "a session");
        return Directive.Stop;
    });

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case Start start:
                var session = Context.ActorOf(SmtpSession.Props(start.Connection, start.Settings, queue, blobs, directory, guard, rates, clientRates, start.Restrictions, log), $"smtp-{++_next}");
                Context.Watch(session);
                if (_draining)
                    session.Tell(SessionControl.Drain.Instance);
                _ = start.Connection.RunAsync(session).ContinueWith(_ => start.Done(), TaskScheduler.Default);
                break;
            case Drain:
                _draining = true;
                _waiting.Add(Sender);
                foreach (var child in Context.GetChildren())
                    child.Tell(SessionControl.Drain.Instance);
                ReplyIfDrained();
                break;
            case AbortAll:
                foreach (var child in Context.GetChildren())
                    child.Tell(SessionControl.Abort.Instance);
                break;
            case Terminated:
                ReplyIfDrained();
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void ReplyIfDrained()
    {
        if (!_draining || Context.GetChildren().Any())
            return;
        foreach (var waiting in _waiting)
            waiting.Tell(Drained.Instance);
        _waiting.Clear();
    }
}
