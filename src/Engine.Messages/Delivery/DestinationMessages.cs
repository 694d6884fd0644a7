using Akka.Cluster.Sharding;
using Engine.Primitives;

namespace Engine.Messages.Delivery;

/// <summary>A message for the destination entity of one next hop ("[host]:port", or a domain for MX).</summary>
public interface IDestinationMessage : IEngineMessage
{
    string NextHop { get; }
}

public static class DestinationCommands
{
    /// <summary>Send one queued message to these recipients, all of them behind <paramref name="NextHop"/>.</summary>
    public sealed record Send(string NextHop, QueueId Id, string BlobRef, Envelope Envelope) : IDestinationMessage;
}

public static class DestinationReplies
{
    /// <summary>The reply that decided each recipient: 2xx sent, 4xx deferred, 5xx bounced.</summary>
    /// <param name="Setup">Seconds the session's setup took (DNS, connect, greeting, EHLO, STARTTLS; a reset of a kept one): Postfix's delays "c".</param>
    /// <param name="Transmission">Seconds from MAIL to the end of the message's replies: Postfix's delays "d".</param>
    /// <param name="NextHopDsn">
    /// Whether the next hop offered DSN, so that NOTIFY went on with the message; when it did not, a recipient that
    /// asked for SUCCESS is owed a "relayed" DSN from here.
    /// </param>
    public sealed record Outcomes(QueueId Id, string Relay, IReadOnlyList<RecipientReply> Recipients, double Setup = 0, double Transmission = 0,
        bool NextHopDsn = true) : IEngineMessage;
}

/// <summary>One recipient's reply, as text fields so that it crosses the cluster as it is.</summary>
public sealed record RecipientReply(string Address, int Code, string? Enhanced, string Text) : IEngineMessage;

/// <summary>Routes destination messages by next hop.</summary>
public sealed class DestinationExtractor(int shards) : HashCodeMessageExtractor(shards)
{
    public const string TypeName = "destination";

    public override string? EntityId(object message) => (message as IDestinationMessage)?.NextHop.ToLowerInvariant();
}

/// <summary>The key of the destination shard region in the host's actor registry.</summary>
public sealed class DestinationRegionKey;
