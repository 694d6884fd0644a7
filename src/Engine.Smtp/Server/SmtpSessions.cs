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
internal sealed class SmtpSessions(SmtpSettings settings, IActorRef queue, IBlobStore blobs, IRecipientDirectory directory, LoginGuard guard,
    SendRates rates, ClientRates clientRates, Restrictions restrictions, ILogger log) : UntypedActor
{

    public sealed record Start(SmtpConnection Connection, Action Done);

    /// <summary>Sessions started from now on take these (a configuration reload); running ones finish with theirs.</summary>
    public sealed record Reconfigure(SmtpSettings Settings, Restrictions Restrictions);

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
    private SmtpSettings _settings = settings;
    private Restrictions _restrictions = restrictions;
    private long _next;
    private bool _draining;

    public static Props Props(SmtpSettings settings, IActorRef queue, IBlobStore blobs, IRecipientDirectory directory, LoginGuard guard,
        SendRates rates, ClientRates clientRates, Restrictions restrictions, ILogger log) =>
        Akka.Actor.Props.Create(() => new SmtpSessions(settings, queue, blobs, directory, guard, rates, clientRates, restrictions, log));

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
                var session = Context.ActorOf(SmtpSession.Props(start.Connection, _settings, queue, blobs, directory, guard, rates, clientRates, _restrictions, log), $"smtp-{++_next}");
                Context.Watch(session);
                if (_draining)
                    session.Tell(SessionControl.Drain.Instance);
                _ = start.Connection.RunAsync(session).ContinueWith(_ => start.Done(), TaskScheduler.Default);
                break;
            case Reconfigure reconfigure:
                _settings = reconfigure.Settings;
                _restrictions = reconfigure.Restrictions;
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
