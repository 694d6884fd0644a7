using System.Net;
using System.Net.Sockets;
using System.Text;
using Engine.Filtering.Greylist;
using Engine.Filtering.Restrictions;
using Engine.Network;
using Engine.Primitives;
using Engine.Protocols.Policy;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Engine.Smtp.Policy;

/// <summary>
/// The engine as a Postfix policy server (engine.policy.listen): Postfix farms point check_policy_service at
/// it and get the cluster's greylist, as they got Postgrey's. Each RCPT request is one greylist question;
/// a deferral is answered "action=DEFER_IF_PERMIT Greylisted, try again in N seconds" (a later rejection
/// still wins, as with Postgrey), a pass "action=PREPEND X-Greylist: ..." when it was delayed, anything else
/// "action=DUNNO". A malformed request closes the connection.
/// </summary>
public sealed class PolicyServer(IEnumerable<IPEndPoint> listen, CheckGreylist greylist, Site site, ILoggerFactory loggers) : IHostedService
{
    private static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(5);
    private readonly ILogger _log = loggers.CreateLogger("Engine.Policy");
    private readonly List<ConnectionListener> _listeners = [];
    private readonly ConnectionCounter _counter = new();
    private readonly CancellationTokenSource _stop = new();

    public IReadOnlyList<IPEndPoint> EndPoints => _listeners.Select(l => l.EndPoint).ToArray();

    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var endPoint in listen)
        {
            var listener = new ConnectionListener(endPoint, _counter, new ConnectionLimits(200, 100),
                (socket, address, done) => _ = ServeAsync(socket, done), (_, _, _) => Task.CompletedTask, (_, _) => { });
            _listeners.Add(listener);
            listener.Start();
            _log.LogInformation("policy service on {EndPoint}", listener.EndPoint);
        }
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        foreach (var listener in _listeners)
            await listener.StopAsync().ConfigureAwait(false);
    }

    private async Task ServeAsync(Socket socket, Action done)
    {
        try
        {
            await using var stream = new NetworkStream(socket, ownsSocket: true);
            using var reader = new StreamReader(stream, Encoding.UTF8, false, 1024);
            var block = new PolicyAttributes.Reader();
            var buffer = new StringBuilder();
            while (!_stop.IsCancellationRequested)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                idle.CancelAfter(IdleTimeout);
                var line = await PolicyAttributes.ReadLineAsync(reader, buffer, idle.Token).ConfigureAwait(false);
                if (line is null)
                    return;
                if (block.Take(line) is not { } request)
                    continue;
                var action = await AnswerAsync(request).ConfigureAwait(false);
                await stream.WriteAsync(Encoding.UTF8.GetBytes($"action={action}\n\n"), _stop.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or FormatException or OperationCanceledException)
        {
            _log.LogInformation("policy connection closed: {Reason}", e.Message);
        }
        finally
        {
            done();
        }
    }

    private async Task<string> AnswerAsync(IReadOnlyDictionary<string, string> request)
    {
        string Get(string name) => request.TryGetValue(name, out var value) ? value : "";
        if (Get("request") != "smtpd_access_policy" || !Get("protocol_state").Equals("RCPT", StringComparison.OrdinalIgnoreCase)
            || !IPAddress.TryParse(Get("client_address"), out var client) || Parse(Get("recipient")) is not { } recipient)
            return "DUNNO";
        var facts = new SmtpFacts(client)
        {
            KnownName = Get("client_name") is { Length: > 0 } name ? name : null,
            Helo = Get("helo_name"),
            Sender = Get("sender") is { Length: > 0 } sender ? Parse(sender) : EmailAddress.Null,
            Recipient = recipient,
        };
        var answer = await greylist.DecideAsync(new RestrictionCall(facts, SmtpStage.Recipient, site, new Evaluation())).ConfigureAwait(false);
        Log.Policy(_log, client.ToString(), Get("sender"), recipient.ToString(), answer?.Why ?? "allow-listed");
        return answer switch
        {
            null => "DUNNO",
            { Pass: false } => "DEFER_IF_PERMIT " + CheckGreylist.Deferral(answer),
            { Why: "delayed" } => "PREPEND X-Greylist: delayed by " + site.Hostname,
            _ => "DUNNO",
        };
    }

    private static EmailAddress? Parse(string address)
    {
        var at = address.LastIndexOf('@');
        return at <= 0 || at == address.Length - 1 ? null : new EmailAddress(address[..at], address[(at + 1)..].ToLowerInvariant());
    }
}
