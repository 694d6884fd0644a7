using System.Collections.Concurrent;

namespace Engine.Network;

/// <summary>
/// One change to a count the nodes keep together: <see cref="Count"/> events added to <see cref="Key"/> in the
/// table <see cref="Table"/>, or (0) the key forgotten.
/// </summary>
public readonly record struct CountChange(string Table, string Key, int Count);

/// <summary>
/// The counts a cluster keeps together (failed logins, mail sent per user): each node counts what it sees,
/// publishes it, and counts what the other nodes publish as if it had seen it, so a limit holds across the farm
/// and not once per node (as a shared policy server does for Postfix, or Dovecot's auth policy). Changes travel
/// best effort: a node that joins late, or a change lost to a partition, only leaves a count lower for a while.
/// </summary>
public sealed class CountExchange
{
    private readonly ConcurrentDictionary<string, Action<string, int>> _tables = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (Action<string, string, int> Apply, Action<string> Forget)> _perNode = new(StringComparer.Ordinal);

    /// <summary>Where this node's changes go; null (the default, and a cluster of one): nowhere.</summary>
    public Action<CountChange>? Outbound { get; set; }

    /// <summary>Names a table and what applies another node's change to it.</summary>
    public void Register(string table, Action<string, int> apply)
    {
        if (!_tables.TryAdd(table, apply))
            throw new InvalidOperationException($"the count table '{table}' is registered twice");
    }

    /// <summary>
    /// Names a table of levels rather than events (open connections per client address): each node publishes its
    /// own level of a key, and a node's levels are forgotten when it leaves the cluster or dies.
    /// </summary>
    public void RegisterPerNode(string table, Action<string, string, int> apply, Action<string> forget)
    {
        if (_tables.ContainsKey(table) || !_perNode.TryAdd(table, (apply, forget)))
            throw new InvalidOperationException($"the count table '{table}' is registered twice");
    }

    /// <summary>Whether changes leave this node at all (false on a cluster of one), so counters can skip the work.</summary>
    public bool Shared => Outbound is not null;

    public void Publish(string table, string key, int count) => Outbound?.Invoke(new CountChange(table, key, count));

    /// <summary>Applies a change the node <paramref name="from"/> published; false if no table here has its name.</summary>
    public bool Receive(CountChange change, string from = "")
    {
        if (_perNode.TryGetValue(change.Table, out var levels))
        {
            levels.Apply(from, change.Key, change.Count);
            return true;
        }
        if (!_tables.TryGetValue(change.Table, out var apply))
            return false;
        apply(change.Key, change.Count);
        return true;
    }

    /// <summary>The node left or died: the levels it published no longer stand.</summary>
    public void Forget(string node)
    {
        foreach (var table in _perNode.Values)
            table.Forget(node);
    }
}
