using System.Net;
using Akka.Actor;
using Engine.Delivery.Mx;
using Engine.Delivery.Smtp;
using Engine.Messages.Delivery;
using Engine.Primitives;
using Engine.Storage.Blobs;

namespace Engine.Delivery;

/// <summary>
/// One next hop — "[host]:port" from a transport map or relayhost, or a domain whose MX hosts are looked up —
/// as a sharded entity that sends the messages the queue partitions give it,
/// at most <c>concurrency</c> at a time (Postfix's default_destination_concurrency_limit), the rest waiting
/// in order. It holds no mail: the partitions keep every recipient's state and retry. For a domain it
/// tries the MX hosts in order and moves to the next when one cannot be reached (RFC 5321 section 5.1).
/// Slow start and the dead-destination state are not built yet.
/// </summary>
public sealed class Destination : ReceiveActor
{
    private sealed record Finished(DestinationReplies.Outcomes Outcomes, IActorRef ReplyTo);

    private readonly string _nextHop;
    private readonly IBlobStore _blobs;
    private readonly string _helo;
    private readonly int _concurrency;
    private readonly SmtpClientTimeouts _timeouts;
    private readonly MxResolver _mx;
    private readonly int _smtpPort;
    private readonly Queue<(DestinationCommands.Send Send, IActorRef ReplyTo)> _waiting = new();
    private int _running;

    public Destination(string nextHop, IBlobStore blobs, string helo, int concurrency, SmtpClientTimeouts timeouts, MxResolver mx, int smtpPort)
    {
        _mx = mx;
        _smtpPort = smtpPort;
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

    public static Props Props(string nextHop, IBlobStore blobs, string helo, int concurrency, SmtpClientTimeouts timeouts, MxResolver mx,
        int smtpPort) =>
        Akka.Actor.Props.Create(() => new Destination(nextHop, blobs, helo, concurrency, timeouts, mx, smtpPort));

    private void Pump()
    {
        while (_running < _concurrency && _waiting.TryDequeue(out var next))
        {
            _running++;
            var (send, replyTo) = next;
            var failedAll = send;
            SendAsync(send).PipeTo(Self, success: outcomes => new Finished(outcomes, replyTo),
                failure: e => new Finished(new DestinationReplies.Outcomes(failedAll.Id, _nextHop, failedAll.Envelope.Recipients
                    .Select(r => new RecipientReply(r.Address, 451, "4.3.0", $"{_nextHop}: {e.GetBaseException().Message}")).ToArray()), replyTo));
        }
    }

    private async Task<DestinationReplies.Outcomes> SendAsync(DestinationCommands.Send send)
    {
        var (relay, outcomes) = _nextHop.StartsWith('[') ? await SendDirectAsync(send).ConfigureAwait(false) : await SendByMxAsync(send).ConfigureAwait(false);
        return new DestinationReplies.Outcomes(send.Id, relay,
            outcomes.Select(o => new RecipientReply(o.Address, o.Reply.Code, o.Reply.Enhanced, o.Reply.Text)).ToArray());
    }

    private async Task<(string Relay, IReadOnlyList<RecipientOutcome> Outcomes)> SendDirectAsync(DestinationCommands.Send send)
    {
        try
        {
            var (host, server) = await EndPointAsync(_nextHop).ConfigureAwait(false);
            return ($"{host}[{server.Address}]:{server.Port}", await SendToAsync(server, send).ConfigureAwait(false));
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or FormatException or InvalidOperationException)
        {
            return (_nextHop, All(send, new SmtpReply(451, "4.4.3", $"{_nextHop}: {e.Message}")));
        }
    }

    /// <summary>The MX hosts in order, each address in turn, until one can be talked to.</summary>
    private async Task<(string Relay, IReadOnlyList<RecipientOutcome> Outcomes)> SendByMxAsync(DestinationCommands.Send send)
    {
        var result = await _mx.ResolveAsync(_nextHop).ConfigureAwait(false);
        switch (result)
        {
            case MxResult.NullMx:
                return ("none", All(send, new SmtpReply(556, "5.1.10", $"Recipient address rejected: Domain {_nextHop} does not accept mail (nullMX)")));
            case MxResult.NotFound notFound:
                return ("none", All(send, new SmtpReply(550, "5.1.2", notFound.Reason)));
            case MxResult.TryAgain again:
                return ("none", All(send, new SmtpReply(451, "4.4.3", again.Reason)));
        }
        IReadOnlyList<RecipientOutcome> outcomes = [];
        var relay = "none";
        foreach (var host in ((MxResult.Hosts)result).List)
        {
            foreach (var address in host.Addresses)
            {
                var server = new IPEndPoint(address, _smtpPort);
                relay = $"{host.Name}[{address}]:{_smtpPort}";
                outcomes = await SendToAsync(server, send).ConfigureAwait(false);
                // Only "could not reach it" (4.4.1: no connection, or no greeting) moves on to the next exchanger;
                // once a server has talked, its replies stand, so a message is never sent to two of them at once.
                if (!outcomes.All(o => o.Reply.Enhanced == "4.4.1"))
                    return (relay, outcomes);
            }
        }
        return (relay, outcomes);
    }

    private Task<IReadOnlyList<RecipientOutcome>> SendToAsync(IPEndPoint server, DestinationCommands.Send send) =>
        OutboundSmtp.SendAsync(server, _helo, send.Envelope, () => _blobs.OpenRead(send.BlobRef), _timeouts);

    private static IReadOnlyList<RecipientOutcome> All(DestinationCommands.Send send, SmtpReply reply) =>
        send.Envelope.Recipients.Select(r => new RecipientOutcome(r.Address, reply)).ToArray();

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
