using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Engine.Filtering.Restrictions;
using Engine.Messages.Greylist;
using Engine.Primitives;

namespace Engine.Filtering.Greylist;

/// <summary>The greylist as restrictions ask it: whether a client network and a triplet may pass now.</summary>
public interface IGreylist
{
    ValueTask<GreylistReplies.Answer> CheckAsync(string network, string sender, string recipient, CancellationToken cancel);
}

/// <summary>
/// The greylist of the cluster: the bucket of the triplet and the bucket of the client network asked at once
/// (sharded entities on whichever nodes host them). A greylist that does not answer in time lets mail pass,
/// as mail must not stop because a bucket is moving.
/// </summary>
public sealed class ShardedGreylist(Func<IActorRef> region, int buckets, TimeSpan timeout) : IGreylist
{
    public async ValueTask<GreylistReplies.Answer> CheckAsync(string network, string sender, string recipient, CancellationToken cancel)
    {
        var shards = region();
        var key = GreylistState.KeyOf(network, sender, recipient);
        var client = shards.Ask<GreylistReplies.Answer>(new GreylistCommands.CheckClient(StableHash.Bucket(network, buckets), network), timeout, cancel);
        var triplet = shards.Ask<GreylistReplies.Answer>(new GreylistCommands.Check(StableHash.Bucket(key, buckets), network, sender, recipient), timeout, cancel);
        try
        {
            var (byClient, byTriplet) = (await client.ConfigureAwait(false), await triplet.ConfigureAwait(false));
            return byClient.Pass ? byClient : byTriplet;
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
        {
            return new GreylistReplies.Answer(true, 0, "unanswered");
        }
    }
}

/// <summary>
/// check_greylist (Postgrey's job, built in): a triplet (client network /24 or /64, sender, recipient) seen
/// for the first time is deferred, 450 4.2.0 Greylisted, try again in N seconds; a retry after the delay
/// passes, and so does the triplet from then on; a network with enough passed triplets passes at once.
/// Clients and recipients of the allow-lists are never greylisted. Passing decides nothing (DUNNO): the
/// rest of the list still runs.
/// </summary>
public sealed class CheckGreylist(IGreylist greylist, GreylistAllowList clients, GreylistAllowList recipients) : IRestriction
{
    public string Name => "check_greylist";

    public bool NeedsClientName => clients.HasNames;

    public async ValueTask<Verdict> CheckAsync(RestrictionCall call)
    {
        var answer = await DecideAsync(call).ConfigureAwait(false);
        return answer is null or { Pass: true } ? Verdict.Dunno
            : Verdict.Reject(Replies.Rejected(450, "4.2.0", call.Facts.Recipient!.ToString(), "Recipient address", Deferral(answer)));
    }

    /// <summary>"Greylisted, try again in N seconds".</summary>
    public static string Deferral(GreylistReplies.Answer answer) => $"Greylisted, try again in {answer.RetryIn} seconds";

    /// <summary>The greylist's answer for the call's triplet; null when the client or recipient is allow-listed (or there is no recipient).</summary>
    public async ValueTask<GreylistReplies.Answer?> DecideAsync(RestrictionCall call)
    {
        var facts = call.Facts;
        if (facts.Recipient is not { } recipient || recipients.AllowsRecipient(recipient))
            return null;
        var name = clients.HasNames && facts.Lookups is not null ? (await call.ClientNameAsync().ConfigureAwait(false)).Verified : facts.ClientName;
        if (clients.AllowsClient(facts.ClientAddress, name))
            return null;
        var sender = facts.Sender is { IsNull: false } from ? from.ToString() : "<>";
        return await greylist.CheckAsync(NetworkOf(facts.ClientAddress), sender, recipient.ToString(), call.Cancel).ConfigureAwait(false);
    }

    /// <summary>The client's network as Postgrey groups it: a /24 for IPv4 ("192.0.2"), a /64 for IPv6 (four groups).</summary>
    public static string NetworkOf(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
            address = address.MapToIPv4();
        var bytes = address.GetAddressBytes();
        return address.AddressFamily == AddressFamily.InterNetwork
            ? $"{bytes[0]}.{bytes[1]}.{bytes[2]}"
            : string.Join(':', Enumerable.Range(0, 4).Select(i => ((bytes[2 * i] << 8) | bytes[2 * i + 1]).ToString("x")));
    }
}
