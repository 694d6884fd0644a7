using Akka.Cluster.Sharding;

namespace Engine.Messages.Greylist;

/// <summary>A message for one greylist bucket entity.</summary>
public interface IGreylistMessage : IEngineMessage
{
    int Bucket { get; }
}

public static class GreylistCommands
{
    /// <summary>
    /// A client tries a triplet: its network ("192.0.2" for a /24, four IPv6 groups for a /64), the envelope
    /// sender and the recipient. Answered with <see cref="GreylistReplies.Answer"/>.
    /// </summary>
    public sealed record Check(int Bucket, string Network, string Sender, string Recipient) : IGreylistMessage;

    /// <summary>Whether a client network has passed often enough to skip greylisting (to the bucket of the network).</summary>
    public sealed record CheckClient(int Bucket, string Network) : IGreylistMessage;

    /// <summary>A triplet of this network passed its delay: one more toward auto-allow (to the bucket of the network).</summary>
    public sealed record ClientPassed(int Bucket, string Network) : IGreylistMessage;
}

public static class GreylistReplies
{
    /// <summary>Pass, or wait <paramref name="RetryIn"/> seconds more; <paramref name="Why"/> is for the log: new, early, passed, allowed.</summary>
    public sealed record Answer(bool Pass, int RetryIn, string Why) : IEngineMessage;
}

public static class GreylistEvents
{
    /// <summary>A triplet was tried for the first time (or again after its retry window closed).</summary>
    public sealed record TripletSeen(string Key, DateTimeOffset At) : IEngineMessage;

    /// <summary>A triplet was tried after its delay and passes from now on (also written once a day while it is used, to keep it).</summary>
    public sealed record TripletPassed(string Key, DateTimeOffset At) : IEngineMessage;

    /// <summary>A client network's triplet passed (this bucket holds the network's count).</summary>
    public sealed record ClientCounted(string Network, DateTimeOffset At) : IEngineMessage;

    /// <summary>Entries unused for max-age, or triplets never retried within the retry window, dropped.</summary>
    public sealed record Expired(IReadOnlyList<string> Triplets, IReadOnlyList<string> Networks) : IEngineMessage;
}

public sealed record GreylistTriplet(string Key, DateTimeOffset FirstSeen, DateTimeOffset? PassedAt, DateTimeOffset LastSeen) : IEngineMessage;

public sealed record GreylistClient(string Network, int Passes, DateTimeOffset LastPass) : IEngineMessage;

public sealed record GreylistSnapshot(IReadOnlyList<GreylistTriplet> Triplets, IReadOnlyList<GreylistClient> Clients) : IEngineMessage;

/// <summary>Routes greylist messages to their bucket: a fixed number of buckets, each one shard and one entity.</summary>
public sealed class GreylistExtractor(int buckets) : HashCodeMessageExtractor(buckets)
{
    public const string TypeName = "greylist";

    public override string? EntityId(object message) =>
        message is IGreylistMessage m ? m.Bucket.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
}

/// <summary>The key of the greylist shard region in the host's actor registry.</summary>
public sealed class GreylistRegionKey;
