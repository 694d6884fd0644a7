using Akka.Actor;
using Akka.Persistence;
using Engine.Messages.Greylist;
using Engine.Primitives;

namespace Engine.Filtering.Greylist;

/// <summary>
/// One greylist bucket (the sharded entity "greylist", a fixed number of them): the triplets whose hash falls
/// here, and the pass counts of the client networks whose hash falls here. Every change is journaled before
/// the answer, so a restart, or a retry that reaches another MX node, finds the triplet as it was.
/// </summary>
public sealed class Greylist : UntypedPersistentActor, IWithTimers
{
    private const int SnapshotEvery = 1000;
    private readonly GreylistState _state;
    private readonly GreylistSettings _settings;
    private readonly IActorRef _region;
    private readonly Func<DateTimeOffset> _now;
    private int _sinceSnapshot;

    public Greylist(string bucket, GreylistSettings settings, IActorRef region, Func<DateTimeOffset>? clock = null)
    {
        PersistenceId = $"greylist-{bucket}";
        _settings = settings;
        _state = new GreylistState(settings);
        _region = region;
        _now = clock ?? (() => DateTimeOffset.UtcNow);
    }

    public override string PersistenceId { get; }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string bucket, GreylistSettings settings, IActorRef region) =>
        Akka.Actor.Props.Create(() => new Greylist(bucket, settings, region, null));

    private sealed record Sweep
    {
        public static readonly Sweep Instance = new();
    }

    protected override void PreStart()
    {
        base.PreStart();
        Timers.StartPeriodicTimer("sweep", Sweep.Instance, TimeSpan.FromHours(1));
    }

    protected override void OnRecover(object message)
    {
        switch (message)
        {
            case SnapshotOffer { Snapshot: GreylistSnapshot snapshot }:
                _state.Restore(snapshot);
                break;
            case RecoveryCompleted:
                break;
            default:
                _state.Apply(message);
                break;
        }
    }

    protected override void OnCommand(object message)
    {
        var now = _now();
        switch (message)
        {
            case GreylistCommands.Check check:
                var (answer, recorded) = _state.Decide(GreylistState.KeyOf(check.Network, check.Sender, check.Recipient), now);
                var sender = Sender;
                if (recorded is null)
                {
                    sender.Tell(answer);
                    break;
                }
                Record(recorded, () =>
                {
                    sender.Tell(answer);
                    if (answer.Why == "delayed") // a new pass counts toward the network's auto-allow, kept in the network's bucket
                        _region.Tell(new GreylistCommands.ClientPassed(StableHash.Bucket(check.Network, _settings.Buckets), check.Network));
                });
                break;
            case GreylistCommands.CheckClient client:
                Sender.Tell(new GreylistReplies.Answer(_state.IsAllowed(client.Network, now), 0, "allowed"));
                break;
            case GreylistCommands.ClientPassed passed:
                Record(new GreylistEvents.ClientCounted(passed.Network, now), () => { });
                break;
            case Sweep:
                if (_state.Expire(now) is { } expired)
                    Record(expired, () => { });
                break;
            case SaveSnapshotSuccess or SaveSnapshotFailure:
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void Record(object @event, Action then) => Persist(@event, e =>
    {
        _state.Apply(e);
        then();
        if (++_sinceSnapshot >= SnapshotEvery)
        {
            _sinceSnapshot = 0;
            SaveSnapshot(_state.ToSnapshot());
        }
    });
}
