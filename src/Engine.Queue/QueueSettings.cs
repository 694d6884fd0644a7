using Akka.Configuration;

namespace Engine.Queue;

/// <summary>The <c>engine.queue</c> section of the configuration.</summary>
public sealed record QueueSettings(int Partitions, int MaxBatch, int SnapshotEvery)
{
    public static QueueSettings Create(Config config)
    {
        var c = config.GetConfig("engine.queue") ?? throw new ConfigurationException("engine.queue is missing");
        var settings = new QueueSettings(c.GetInt("partitions"), c.GetInt("max-batch"), c.GetInt("snapshot-every"));
        if (settings.Partitions < 1 || settings.MaxBatch < 1 || settings.SnapshotEvery < 1)
            throw new ConfigurationException("engine.queue: partitions, max-batch and snapshot-every must be positive");
        return settings;
    }
}
