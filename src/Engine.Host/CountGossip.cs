using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.PublishSubscribe;
using Engine.Messages.Cluster;
using Engine.Network;

namespace Engine.Host;

/// <summary>
/// Carries this node's <see cref="CountExchange"/> changes to every other node, and theirs to it, over the
/// distributed pub-sub topic <see cref="Topic"/>. The node's own publications come back to it and are dropped.
/// A member that is removed (left, or downed after a crash) has its per-node levels forgotten.
/// </summary>
internal sealed class CountGossip : ReceiveActor
{
    public const string Topic = "engine.counts";

    public CountGossip(IActorRef mediator, CountExchange exchange)
    {
        Receive<CountChange>(change => mediator.Tell(new Publish(Topic, new CountChanged(change.Table, change.Key, change.Count))));
        Receive<CountChanged>(changed =>
        {
            if (!Sender.Equals(Self))
                exchange.Receive(new CountChange(changed.Table, changed.Key, changed.Count), Sender.Path.Address.ToString());
        });
        Receive<ClusterEvent.MemberRemoved>(removed => exchange.Forget(removed.Member.Address.ToString()));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<ClusterEvent.CurrentClusterState>(_ => { });
        Receive<SubscribeAck>(_ => { });
        mediator.Tell(new Subscribe(Topic, Self));
    }

    protected override void PreStart() =>
        Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot, typeof(ClusterEvent.MemberRemoved));

    protected override void PostStop() => Cluster.Get(Context.System).Unsubscribe(Self);

    public static Props Props(IActorRef mediator, CountExchange exchange) =>
        Akka.Actor.Props.Create(() => new CountGossip(mediator, exchange));
}
