using Akka.Cluster.Sharding;

namespace Engine.Messages.Queue;

/// <summary>
/// Routes queue messages to their partition entity. The entity id is the partition number; with one shard
/// per partition, a partition moves between nodes on its own.
/// </summary>
public sealed class QueuePartitionExtractor(int partitions) : HashCodeMessageExtractor(partitions)
{
    public const string TypeName = "queue-partition";

    public override string? EntityId(object message) =>
        message is IQueuePartitionMessage m ? m.Partition.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
}
