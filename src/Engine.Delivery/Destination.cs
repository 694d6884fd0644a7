using System.Diagnostics;
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
/// as a sharded entity that sends the messages the queue partitions give it, the rest waiting in order.
/// It holds no mail: the partitions keep every recipient's state and retry. As Postfix's qmgr and smtp:
/// <list type="bullet">
/// <item>sessions at once follow a <see cref="ConcurrencyWindow"/> (slow start from initial-concurrency up to
/// concurrency); a destination that cannot be reached for a cohort of attempts is dead for
/// dead-destination-time, and its mail is deferred at once ("delivery temporarily suspended");</item>
/// <item>a session that ends well waits connection-cache-time for the next message and is used again
/// (RSET first) for up to connection-reuse-time;</item>
/// <item>for a domain it tries the MX hosts in order and moves to the next when one cannot be reached or
/// will not talk (RFC 5321 section 5.1).</item>
/// </list>
/// </summary>
public sealed class Destination : ReceiveActor, IWithTimers
{
    /// <summary>An open session, with the relay text of the maillog.</summary>
    private sealed record Session(SmtpClientConnection Connection, string Relay);

    /// <param name="Started">
    /// true: a session (new or kept) carried the message (positive feedback, as Postfix gives per delivery);
    /// false: no session could be started (negative feedback); null: neither (no DNS answer, say).
    /// </param>
    private sealed record Finished(DestinationReplies.Outcomes Outcomes, IActorRef ReplyTo, bool? Started, Session? Open);

    private sealed record SweepIdle
    {
        public static readonly SweepIdle Instance = new();
    }

    private readonly string _nextHop;
    private readonly IBlobStore _blobs;
    private readonly DeliverySettings _settings;
    private readonly MxResolver _mx;
    private readonly ConcurrencyWindow _window;
    private readonly Queue<(DestinationCommands.Send Send, IActorRef ReplyTo)> _waiting = new();
    private readonly Stack<(Session Session, DateTimeOffset Since)> _idle = new();
    // Recipients waiting or being sent: a partition that asks again (its answer timed out) is not sent twice.
    private readonly HashSet<(QueueId, string)> _pending = [];

    /// <summary>
    /// Who asked last for each message: a queue partition that moved to another node (its node died) asks again, and
    /// the answer must go to it, not to the one that is gone.
    /// </summary>
    private readonly Dictionary<QueueId, IActorRef> _askedBy = [];
    private int _running;
    private DateTimeOffset? _deadUntil;
    private string _deadReason = "";

    public Destination(string nextHop, IBlobStore blobs, DeliverySettings settings, MxResolver mx)
    {
        _mx = mx;
        _nextHop = nextHop;
        _blobs = blobs;
        _settings = settings;
        _window = new ConcurrencyWindow(settings.InitialConcurrency, settings.Concurrency, settings.FailedCohortLimit);
        Receive<DestinationCommands.Send>(send =>
        {
            if (IsDead())
            {
                Sender.Tell(Suspended(send));
                return;
            }
            _askedBy[send.Id] = Sender;
            var fresh = send.Envelope.Recipients.Where(r => _pending.Add((send.Id, r.Address))).ToArray();
            if (fresh.Length == 0)
                return; // all of them are on their way already; that send will answer
            _waiting.Enqueue((fresh.Length == send.Envelope.Recipients.Count ? send : send with { Envelope = send.Envelope with { Recipients = fresh } }, Sender));
            Pump();
        });
        Receive<Finished>(OnFinished);
        Receive<SweepIdle>(_ => Sweep(all: false));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string nextHop, IBlobStore blobs, DeliverySettings settings, MxResolver mx) =>
        Akka.Actor.Props.Create(() => new Destination(nextHop, blobs, settings, mx));

    private bool IsDead()
    {
        if (_deadUntil is not { } until)
            return false;
        if (DateTimeOffset.UtcNow < until)
            return true;
        _deadUntil = null;
        _window.Revive();
        return false;
    }

    private DestinationReplies.Outcomes Suspended(DestinationCommands.Send send) =>
        new(send.Id, "none", send.Envelope.Recipients
            .Select(r => new RecipientReply(r.Address, 451, "4.4.1", $"delivery temporarily suspended: {_deadReason}")).ToArray());

    private void Pump()
    {
        while (_running < _window.Current && _waiting.TryDequeue(out var next))
        {
            _running++;
            var (send, replyTo) = next;
            var kept = TakeIdle();
            SendAsync(send, kept).PipeTo(Self, success: finished => finished with { ReplyTo = replyTo },
                failure: e => new Finished(new DestinationReplies.Outcomes(send.Id, _nextHop, send.Envelope.Recipients
                    .Select(r => new RecipientReply(r.Address, 451, "4.3.0", $"{_nextHop}: {e.GetBaseException().Message}")).ToArray()), replyTo, null, null));
        }
    }

    private void OnFinished(Finished finished)
    {
        _running--;
        foreach (var reply in finished.Outcomes.Recipients)
            _pending.Remove((finished.Outcomes.Id, reply.Address));
        if (finished.Started == true)
        {
            _window.Succeeded();
        }
        else if (finished.Started == false && _window.Failed())
        {
            _deadUntil = DateTimeOffset.UtcNow + _settings.DeadTime;
            _deadReason = finished.Outcomes.Recipients.FirstOrDefault()?.Text ?? "no session";
            while (_waiting.TryDequeue(out var waiting))
            {
                foreach (var r in waiting.Send.Envelope.Recipients)
                    _pending.Remove((waiting.Send.Id, r.Address));
                waiting.ReplyTo.Tell(Suspended(waiting.Send));
            }
            Sweep(all: true);
        }
        if (finished.Open is { } session)
        {
            if (_deadUntil is null && session.Connection.Usable && DateTimeOffset.UtcNow - session.Connection.OpenedAt < _settings.ReuseTime)
            {
                _idle.Push((session, DateTimeOffset.UtcNow));
                Timers.StartSingleTimer(SweepIdle.Instance, SweepIdle.Instance, _settings.CacheTime);
            }
            else
            {
                Close(session);
            }
        }
        var id = finished.Outcomes.Id;
        (_askedBy.GetValueOrDefault(id) ?? finished.ReplyTo).Tell(finished.Outcomes);
        if (!_pending.Any(p => p.Item1 == id))
            _askedBy.Remove(id);
        Pump();
    }

    /// <summary>The most recently idle session that has not waited too long (the others are closed).</summary>
    private Session? TakeIdle()
    {
        Sweep(all: false);
        return _idle.TryPop(out var idle) ? idle.Session : null;
    }

    private void Sweep(bool all)
    {
        var now = DateTimeOffset.UtcNow;
        var keep = _idle.Where(i => !all && now - i.Since < _settings.CacheTime).Reverse().ToArray();
        foreach (var (session, _) in _idle.Except(keep))
            Close(session);
        _idle.Clear();
        foreach (var k in keep)
            _idle.Push(k);
        if (_idle.Count > 0)
            Timers.StartSingleTimer(SweepIdle.Instance, SweepIdle.Instance, _settings.CacheTime);
    }

    private static void Close(Session session) => _ = Task.Run(async () =>
    {
        await session.Connection.QuitAsync().ConfigureAwait(false);
        await session.Connection.DisposeAsync().ConfigureAwait(false);
    });

    protected override void PostStop()
    {
        Sweep(all: true);
        base.PostStop();
    }

    private async Task<Finished> SendAsync(DestinationCommands.Send send, Session? kept)
    {
        var setup = Stopwatch.StartNew(); // Postfix's delays "c": the session's setup, or the reset of a kept one
        if (kept is not null)
        {
            if (await kept.Connection.ResetAsync().ConfigureAwait(false))
                return await SendOnAsync(send, kept, setup.Elapsed).ConfigureAwait(false);
            await kept.Connection.DisposeAsync().ConfigureAwait(false); // gone while idle: nothing was sent on it
        }
        var (session, failure) = _nextHop.StartsWith('[') ? await OpenDirectAsync().ConfigureAwait(false) : await OpenByMxAsync().ConfigureAwait(false);
        if (session is null)
            return new Finished(Outcomes(send, failure.Relay, failure.Reply) with { Setup = setup.Elapsed.TotalSeconds }, ActorRefs.Nobody,
                failure.CountsAsFailure ? false : null, null);
        return await SendOnAsync(send, session, setup.Elapsed).ConfigureAwait(false);
    }

    private async Task<Finished> SendOnAsync(DestinationCommands.Send send, Session session, TimeSpan setup)
    {
        var transmission = Stopwatch.StartNew();
        IReadOnlyList<RecipientOutcome> outcomes;
        try
        {
            outcomes = await OutboundSmtp.SendOnAsync(session.Connection, send.Envelope, () => _blobs.OpenRead(send.BlobRef), quit: false)
                .ConfigureAwait(false);
        }
        catch
        {
            await session.Connection.DisposeAsync().ConfigureAwait(false); // the failure answer carries no session
            throw;
        }
        var result = new DestinationReplies.Outcomes(send.Id, session.Relay,
            outcomes.Select(o => new RecipientReply(o.Address, o.Reply.Code, o.Reply.Enhanced, o.Reply.Text)).ToArray(),
            setup.TotalSeconds, transmission.Elapsed.TotalSeconds, session.Connection.Offers("DSN"));
        return new Finished(result, ActorRefs.Nobody, true, session);
    }

    private static DestinationReplies.Outcomes Outcomes(DestinationCommands.Send send, string relay, SmtpReply reply) =>
        new(send.Id, relay, send.Envelope.Recipients.Select(r => new RecipientReply(r.Address, reply.Code, reply.Enhanced, reply.Text)).ToArray());

    /// <summary>Why no session could be had: the reply for every recipient, and whether it says the destination is unwell.</summary>
    private sealed record NoSession(string Relay, SmtpReply Reply, bool CountsAsFailure);

    private async Task<(Session?, NoSession)> OpenDirectAsync()
    {
        IPEndPoint server;
        string host;
        try
        {
            (host, server) = await EndPointAsync(_nextHop).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FormatException or System.Net.Sockets.SocketException)
        {
            return (null, new NoSession(_nextHop, new SmtpReply(451, "4.4.3", $"{_nextHop}: {e.Message}"), false));
        }
        return await OpenAsync(host, server).ConfigureAwait(false);
    }

    /// <summary>The MX hosts in order, each address in turn, until one gives a session.</summary>
    private async Task<(Session?, NoSession)> OpenByMxAsync()
    {
        var result = await _mx.ResolveAsync(_nextHop).ConfigureAwait(false);
        switch (result)
        {
            case MxResult.NullMx:
                return (null, new NoSession("none",
                    new SmtpReply(556, "5.1.10", $"Recipient address rejected: Domain {_nextHop} does not accept mail (nullMX)"), false));
            case MxResult.NotFound notFound:
                return (null, new NoSession("none", new SmtpReply(550, "5.1.2", notFound.Reason), false));
            case MxResult.TryAgain again:
                return (null, new NoSession("none", new SmtpReply(451, "4.4.3", again.Reason), false));
        }
        // RFC 5321 section 5.1: finding itself among the MX hosts, a client drops itself and every host of
        // the same or a lower preference; with none left the mail loops (Postfix: "loops back to myself").
        IReadOnlyList<MxHost> hosts = ((MxResult.Hosts)result).List;
        if (hosts.FirstOrDefault(h => h.Addresses.Any(a => _settings.IsSelf(new IPEndPoint(a, _settings.SmtpPort)))) is { } self)
        {
            hosts = hosts.Where(h => h.Preference < self.Preference).ToArray();
            if (hosts.Count == 0)
                return (null, new NoSession("none", new SmtpReply(554, "5.4.6", $"mail for {_nextHop} loops back to myself"), false));
        }
        var failure = new NoSession("none", new SmtpReply(451, "4.4.1", $"no MX host of {_nextHop} could be reached"), true);
        foreach (var host in hosts)
        {
            foreach (var address in host.Addresses)
            {
                var (session, why) = await OpenAsync(host.Name, new IPEndPoint(address, _settings.SmtpPort)).ConfigureAwait(false);
                if (session is not null)
                    return (session, why);
                failure = why;
            }
        }
        return (null, failure);
    }

    private async Task<(Session?, NoSession)> OpenAsync(string host, IPEndPoint server)
    {
        var relay = $"{host}[{server.Address}]:{server.Port}";
        try
        {
            var connection = await SmtpClientConnection.OpenAsync(server, _settings.Helo, _settings.Tls, _settings.Timeouts).ConfigureAwait(false);
            return (new Session(connection, relay), new NoSession(relay, new SmtpReply(250, null, "ok"), false));
        }
        catch (SmtpSessionRefusedException refused)
        {
            return (null, new NoSession(relay, refused.Reply, true));
        }
        catch (Exception e) when (OutboundSmtp.IsNetwork(e))
        {
            return (null, new NoSession(relay, OutboundSmtp.Unreachable(server, e), true));
        }
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
