using System.Net;
using Akka.Actor;
using Engine.Delivery.Smtp;
using Engine.Messages.Delivery;
using Engine.Primitives;
using Engine.Storage.Blobs;

namespace Engine.Delivery;

/// <summary>
/// One next hop ("[host]:port"): a sharded entity that sends the messages the queue partitions give it,
/// at most <c>concurrency</c> at a time (Postfix's default_destination_concurrency_limit), the rest waiting
/// in order. It holds no mail: the partitions keep every recipient's state and retry. MX lookup, slow
/// start and the dead-destination state come with the next step.
/// </summary>
public sealed class Destination : ReceiveActor
{
    private sealed record Finished(DestinationReplies.Outcomes Outcomes, IActorRef ReplyTo);

    private readonly string _nextHop;
    private readonly IBlobStore _blobs;
    private readonly string _helo;
    private readonly int _concurrency;
    private readonly SmtpClientTimeouts _timeouts;
    private readonly Queue<(DestinationCommands.Send Send, IActorRef ReplyTo)> _waiting = new();
    private int _running;

    public Destination(string nextHop, IBlobStore blobs, string helo, int concurrency, SmtpClientTimeouts timeouts)
    {
        _nextHop = nextHop;
        _blobs = blobs;
        _helo = helo;
        _concurrency = concurrency;
        _timeouts = timeouts;
        Receive<DestinationCommands.Send>(send =>
        {
            _waiting.Enqueue((send, Sender));
            Pump();
        });
        Receive<Finished>(finished =>
        {
            _running--;
            finished.ReplyTo.Tell(finished.Outcomes);
            Pump();
        });
    }

    public static Props Props(string nextHop, IBlobStore blobs, string helo, int concurrency, SmtpClientTimeouts timeouts) =>
        Akka.Actor.Props.Create(() => new Destination(nextHop, blobs, helo, concurrency, timeouts));

    private void Pump()
    {
        while (_running < _concurrency && _waiting.TryDequeue(out var next))
        {
            _running++;
            var (send, replyTo) = next;
            SendAsync(send).PipeTo(Self, success: outcomes => new Finished(outcomes, replyTo));
        }
    }

    private async Task<DestinationReplies.Outcomes> SendAsync(DestinationCommands.Send send)
    {
        IReadOnlyList<RecipientOutcome> outcomes;
        var relay = _nextHop;
        try
        {
            var (host, server) = await EndPointAsync(_nextHop).ConfigureAwait(false);
            relay = $"{host}[{server.Address}]:{server.Port}";
            outcomes = await OutboundSmtp.SendAsync(server, _helo, send.Envelope, () => _blobs.OpenRead(send.BlobRef), _timeouts)
                .ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or FormatException or InvalidOperationException)
        {
            outcomes = send.Envelope.Recipients.Select(r => new RecipientOutcome(r.Address,
                new SmtpReply(451, "4.4.3", $"{_nextHop}: {e.Message}"))).ToArray();
        }
        return new DestinationReplies.Outcomes(send.Id, relay,
            outcomes.Select(o => new RecipientReply(o.Address, o.Reply.Code, o.Reply.Enhanced, o.Reply.Text)).ToArray());
    }

    /// <summary>"[host]:port" to an address: a literal address, or a name the system resolves.</summary>
    private static async Task<(string Host, IPEndPoint EndPoint)> EndPointAsync(string nextHop)
    {
        var close = nextHop.IndexOf(']');
        if (!nextHop.StartsWith('[') || close < 0 || close + 1 >= nextHop.Length || nextHop[close + 1] != ':'
            || !int.TryParse(nextHop[(close + 2)..], out var port))
            throw new FormatException($"not a next hop: '{nextHop}'");
        var host = nextHop[1..close];
        if (IPAddress.TryParse(host, out var address))
            return (host, new IPEndPoint(address, port));
        var addresses = await Dns.GetHostAddressesAsync(host).ConfigureAwait(false);
        return (host, new IPEndPoint(addresses.First(), port));
    }
}
