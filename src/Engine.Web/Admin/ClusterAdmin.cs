using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using Engine.Messages.Cluster;

namespace Engine.Web.Admin;

/// <summary>The cluster as the operators see it: members with their roles, where the shards live, leave and down.</summary>
public sealed class ClusterAdmin(ActorSystem system, IReadOnlyList<(string Type, string Role)> shardTypes, TimeSpan timeout)
{
    public ActorSystem System => system;

    /// <summary>How long the shard counts wait for each node's region (which itself waits up to 3 s for each of its shards).</summary>
    private static readonly TimeSpan StatsTimeout = TimeSpan.FromSeconds(5);

    public async Task<ClusterStatus> StatusAsync()
    {
        var cluster = Cluster.Get(system);
        var state = cluster.State;
        var members = state.Members.Select(m => new ClusterMember(m.Address.ToString(), m.Status.ToString().ToLowerInvariant(),
            m.Roles.Order(StringComparer.Ordinal).ToArray(), m.Address.Equals(state.Leader), m.Address.Equals(cluster.SelfAddress),
            !state.Unreachable.Contains(m))).ToArray();
        var placements = await Task.WhenAll(shardTypes.Select(PlacementAsync)).ConfigureAwait(false);
        return new ClusterStatus(cluster.SelfAddress.ToString(), state.Leader?.ToString(), members, placements);
    }

    /// <summary>
    /// The shards of one entity type per node: each member with the type's role is asked for its own region's state, so
    /// the answer needs neither the shard coordinator (which moves when the oldest node leaves) nor every node; a region
    /// that does not answer within the stats timeout (a node going down, or still starting) is left out.
    /// </summary>
    private async Task<ShardPlacement> PlacementAsync((string Type, string Role) shards)
    {
        var members = Cluster.Get(system).State.Members
            .Where(m => m.HasRole(shards.Role) && m.Status is MemberStatus.Up or MemberStatus.WeaklyUp or MemberStatus.Leaving or MemberStatus.Exiting)
            .OrderBy(m => m.Address.ToString(), StringComparer.Ordinal).ToArray();
        var regions = await Task.WhenAll(members.Select(async m =>
        {
            var path = new RootActorPath(m.Address) / "system" / "sharding" / shards.Type;
            try
            {
                var state = await system.ActorSelection(path).Ask<CurrentShardRegionState>(GetShardRegionState.Instance, StatsTimeout).ConfigureAwait(false);
                return new RegionShards(path.ToString(), state.Shards.Count, state.Shards.Sum(s => s.EntityIds.Count));
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                return null; // no answer in time, or the region is gone: the node's shards are not counted
            }
        })).ConfigureAwait(false);
        return new ShardPlacement(shards.Type, regions.OfType<RegionShards>().ToArray());
    }

    /// <summary>
    /// Every member up reads its configuration again (its own file) and says what it did; a member that does not answer
    /// in time is reported as such.
    /// </summary>
    public async Task<ReloadReport> ReloadAsync()
    {
        var answers = await AskMembersAsync<ConfigReloaded>("config-reload", ReloadConfig.Instance).ConfigureAwait(false);
        return new ReloadReport(answers.Select(a => a.Answer is { } done
            ? new NodeReload(a.Node, done.Applied, done.Error, done.Changed, done.NeedRestart)
            : new NodeReload(a.Node, false, a.Failure, [], [])).ToArray());
    }

    /// <summary>The life of one message: what every member still keeps about it in its maillog, in time order.</summary>
    public async Task<MessageLog> LogAsync(string queueId)
    {
        var answers = await AskMembersAsync<MaillogFound>("maillog", new GetMaillog(queueId)).ConfigureAwait(false);
        var lines = answers.Where(a => a.Answer is not null).SelectMany(a => a.Answer!.Lines.Select(l => new LogLine(l.Time, a.Node, l.Category, l.Level, l.Text)))
            .OrderBy(l => l.Time).ToArray();
        return new MessageLog(queueId, lines, answers.Where(a => a.Answer is null).Select(a => a.Node).ToArray());
    }

    /// <summary>
    /// Asks the actor <c>/user/{name}</c> of every member that is up; a member's answer is null, with the reason, when
    /// none came in time or it failed.
    /// </summary>
    private async Task<IReadOnlyList<(string Node, T? Answer, string Failure)>> AskMembersAsync<T>(string name, object message) where T : class
    {
        var members = Cluster.Get(system).State.Members.Where(m => m.Status is MemberStatus.Up or MemberStatus.WeaklyUp).ToArray();
        return await Task.WhenAll(members.Select(async m =>
        {
            try
            {
                var answer = await system.ActorSelection(new RootActorPath(m.Address) / "user" / name).Ask<T>(message, timeout).ConfigureAwait(false);
                return (m.Address.ToString(), (T?)answer, "");
            }
            catch (AskTimeoutException)
            {
                return (m.Address.ToString(), null, "no answer in time");
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                return (m.Address.ToString(), null, "failed: " + e.Message);
            }
        })).ConfigureAwait(false);
    }

    /// <summary>Asks a member to leave gracefully (its shards are handed over first); false when no member has that address.</summary>
    public bool Leave(string address) => Act(address, a => Cluster.Get(system).Leave(a));

    /// <summary>Marks a member down (it is gone for good; its shards restart elsewhere); false when no member has that address.</summary>
    public bool Down(string address) => Act(address, a => Cluster.Get(system).Down(a));

    private bool Act(string text, Action<Address> act)
    {
        var member = Cluster.Get(system).State.Members.FirstOrDefault(m => m.Address.ToString() == text);
        if (member is null)
            return false;
        act(member.Address);
        return true;
    }
}
