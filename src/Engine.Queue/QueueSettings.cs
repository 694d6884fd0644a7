using Akka.Configuration;
using Engine.Queue.Scheduling;

namespace Engine.Queue;

/// <summary>The <c>engine.queue</c> section of the configuration.</summary>
/// <param name="DelayWarningTime">After how long in the queue the sender hears that a message is delayed; zero: never.</param>
/// <param name="PostmasterAddress">Who gets the copy of a DSN that bounced: an address, or a local part of the hostname.</param>
/// <param name="BounceSizeLimit">The most bytes of the original a DSN returns whole; a larger one is returned as headers only.</param>
public sealed record QueueSettings(int Partitions, int MaxBatch, int SnapshotEvery, RetryPolicy Retry, TimeSpan DelayWarningTime,
    string PostmasterAddress = "postmaster", long BounceSizeLimit = 50_000, TimeSpan? AnswerTimeout = null)
{
    /// <summary>How long a send to a destination may go unanswered before it is deferred.</summary>
    public TimeSpan DeliveryAnswerTimeout => AnswerTimeout ?? TimeSpan.FromHours(1);

    public string Postmaster(string hostname) => PostmasterAddress.Contains('@') ? PostmasterAddress : $"{PostmasterAddress}@{hostname}";

    public static QueueSettings Create(Config config)
    {
        var c = config.GetConfig("engine.queue") ?? throw new ConfigurationException("engine.queue is missing");
        var retry = new RetryPolicy(
            c.GetTimeSpan("minimal-backoff", TimeSpan.FromSeconds(300)),
            c.GetTimeSpan("maximal-backoff", TimeSpan.FromSeconds(4000)),
            c.GetTimeSpan("maximal-queue-lifetime", TimeSpan.FromDays(5)),
            c.GetTimeSpan("bounce-queue-lifetime", TimeSpan.FromDays(5)));
        var settings = new QueueSettings(c.GetInt("partitions"), c.GetInt("max-batch"), c.GetInt("snapshot-every"), retry,
            c.GetTimeSpan("delay-warning-time", TimeSpan.Zero), c.GetString("postmaster", "postmaster"), c.GetLong("bounce-size-limit", 50_000),
            c.GetTimeSpan("delivery-answer-timeout", TimeSpan.FromHours(1)));
        if (settings.Partitions < 1 || settings.MaxBatch < 1 || settings.SnapshotEvery < 1)
            throw new ConfigurationException("engine.queue: partitions, max-batch and snapshot-every must be positive");
        if (retry.MinimalBackoff <= TimeSpan.Zero || retry.MaximalBackoff < retry.MinimalBackoff)
            throw new ConfigurationException("engine.queue: minimal-backoff must be positive and not above maximal-backoff");
        return settings;
    }
}
