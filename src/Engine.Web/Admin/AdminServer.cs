using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Engine.Messages.Queue;
using Engine.Primitives;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace Engine.Web.Admin;

/// <summary>
/// The admin HTTP API on Kestrel: JSON under <c>/api</c>, every call but the health checks with the bearer token
/// of <see cref="AdminSettings.TokenFile"/>. Bound to loopback by default. What it offers is what enginectl uses:
/// the queue (list, show, flush, hold, release, requeue, delete), the directory (domains, users, aliases), the
/// cluster (status, leave, down), health; and the metrics at <c>/metrics</c> in Prometheus's text format (with
/// the token too: Prometheus sends it with <c>authorization: {credentials_file: ...}</c>).
/// </summary>
public sealed class AdminServer(AdminSettings settings, QueueAdmin queue, ClusterAdmin cluster, DirectoryAdmin directory, ConfigAdmin config,
    AdminCertificate certificate, ILoggerFactory loggers) : IHostedService
{
    private WebApplication? _app;
    private byte[] _token = [];
    private X509Certificate2Collection _authorities = [];

    /// <summary>The bound endpoints (with the real port when 0 was asked for).</summary>
    public IReadOnlyList<IPEndPoint> EndPoints { get; private set; } = [];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (settings.Listen.Count == 0)
            return;
        _token = Encoding.UTF8.GetBytes(AdminToken.LoadOrCreate(settings.TokenFile));
        if (settings.ClientCaFile is { } caFile)
        {
            _authorities.ImportFromPemFile(caFile);
            if (_authorities.Count == 0)
                throw new InvalidOperationException($"engine.web.client-ca: no certificate in {caFile}");
        }
        // No appsettings.json watcher: it would watch the working directory, and with it the spool under ./data.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggers);
        // The engine's instruments (Engine.Smtp, Engine.Queue, Engine.Mailbox meters) and the runtime's (System.Runtime: GC,
        // thread pool, JIT, exceptions, locks) for Prometheus at /metrics.
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddMeter("Engine.*", "System.Runtime").AddPrometheusExporter());
        builder.Services.Configure<JsonOptions>(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.CamelCase;
            o.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, AdminJson.Default);
        });
        builder.WebHost.ConfigureKestrel(k =>
        {
            foreach (var endPoint in settings.Listen)
            {
                k.Listen(endPoint, listen =>
                {
                    if (settings.Https)
                    {
                        // Per connection, so the certificate (with its intermediates) is the one the node's store has now.
                        listen.UseHttps(new TlsHandshakeCallbackOptions
                        {
                            OnConnection = context => ValueTask.FromResult(new SslServerAuthenticationOptions
                            {
                                ServerCertificateContext = certificate.Select(context.ClientHelloInfo.ServerName),
                                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                                ClientCertificateRequired = _authorities.Count > 0,
                                RemoteCertificateValidationCallback = (_, client, chain, _) => client is null || IsOperator(client, chain),
                                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                            }),
                        });
                    }
                });
            }
            k.Limits.MaxRequestBodySize = 16 * 1024 * 1024;
        });
        var app = builder.Build();
        app.Use(Authorize);
        app.MapPrometheusScrapingEndpoint("/metrics");
        Map(app);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        EndPoints = app.Urls.Select(u => new Uri(u)).Select(u => new IPEndPoint(IPAddress.Parse(u.Host.Trim('[', ']')), u.Port)).ToArray();
        _app = app;
        Log.Listening(loggers.CreateLogger("Engine.Web"), string.Join(", ", EndPoints));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken).ConfigureAwait(false);
            await _app.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A client certificate that chains to engine.web.client-ca (through the intermediates it sent, if any) and allows
    /// client authentication when it says what it is for. Checked in the handshake: a certificate that fails ends the
    /// connection. Revocation is not checked.
    /// </summary>
    private bool IsOperator(X509Certificate client, X509Chain? sent)
    {
        using var certificate = X509CertificateLoader.LoadCertificate(client.GetRawCertData());
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_authorities);
        foreach (var element in sent?.ChainElements ?? Enumerable.Empty<X509ChainElement>())
            chain.ChainPolicy.ExtraStore.Add(element.Certificate);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.2"));
        return chain.Build(certificate);
    }

    /// <summary>
    /// A client certificate checked in the handshake, or the bearer token compared in constant time; health checks need
    /// neither (a load balancer asks them).
    /// </summary>
    private Task Authorize(HttpContext context, Func<Task> next)
    {
        if (context.Request.Path.StartsWithSegments("/api/health"))
            return next();
        // A change comes as JSON: a form another web site makes a browser post (with the operator's certificate) is refused.
        if (HttpMethods.IsPost(context.Request.Method) && context.Request.HasJsonContentType() is false)
        {
            context.Response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            return context.Response.WriteAsJsonAsync(new Problem("a POST to the admin API carries JSON (content-type: application/json)"), AdminJson.Default.Problem);
        }
        if (_authorities.Count > 0 && context.Connection.ClientCertificate is not null)
            return next();
        var header = context.Request.Headers.Authorization.ToString();
        var given = header.StartsWith("Bearer ", StringComparison.Ordinal) ? Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim()) : [];
        if (CryptographicOperations.FixedTimeEquals(given, _token))
            return next();
        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.Headers.WWWAuthenticate = "Bearer";
        return context.Response.WriteAsJsonAsync(new Problem("a valid bearer token or client certificate is needed (see engine.web.admin-token-file and client-ca)"),
            AdminJson.Default.Problem);
    }

    private void Map(WebApplication app)
    {
        app.MapGet("/api/health/live", () => Results.Text("live\n"));
        app.MapGet("/api/health/ready", () => Akka.Cluster.Cluster.Get(cluster.System).SelfMember.Status == Akka.Cluster.MemberStatus.Up
            ? Results.Text("ready\n") : Results.Text("not ready\n", statusCode: StatusCodes.Status503ServiceUnavailable));

        var api = app.MapGroup("/api");
        api.MapGet("/queue", (HttpContext http, CancellationToken cancel) => Guard(async () =>
        {
            var q = http.Request.Query;
            var query = QueueFilter.Query(q["queue"], q["sender"], q["recipient"], q["domain"], q["min-age"], DateTimeOffset.UtcNow);
            var offset = int.TryParse(q["offset"], out var o) && o >= 0 ? o : 0;
            var limit = int.TryParse(q["limit"], out var l) && l > 0 ? Math.Min(l, MaxPage) : 1000;
            return Results.Ok(await queue.ListAsync(query, offset, limit, cancel).ConfigureAwait(false));
        }));
        api.MapGet("/queue/{id}", (string id, CancellationToken cancel) => Guard(async () =>
            await queue.ShowAsync(id, cancel).ConfigureAwait(false) is { } detail
                ? Results.Ok(detail)
                : Results.NotFound(new Problem($"no message {id} in the queue"))));
        api.MapPost("/queue/flush", (QueueSelection selection, CancellationToken cancel) => Guard(async () =>
        {
            if (selection.Ids is { Count: > 0 } || selection.HasFilter)
            {
                if (selection.Site is not null)
                    throw new FormatException("name ids, a filter or a site, not several");
                var ids = await queue.SelectAsync(selection, cancel).ConfigureAwait(false);
                return Results.Ok(new Changed(await queue.ApplyAsync(ids, (p, id) => new QueueCommands.Flush(p, id), cancel).ConfigureAwait(false)));
            }
            if (selection.Site is { } site && string.IsNullOrWhiteSpace(site))
                throw new FormatException("the site is empty");
            return Results.Ok(new Changed(await queue.FlushAllAsync(selection.Site?.Trim(), cancel).ConfigureAwait(false)));
        }));
        MapCommand(api, "hold", (p, id, s) => new QueueCommands.Hold(p, id, s.Reason ?? "held by an operator"));
        MapCommand(api, "release", (p, id, _) => new QueueCommands.Release(p, id));
        MapCommand(api, "requeue", (p, id, _) => new QueueCommands.Requeue(p, id));
        MapCommand(api, "delete", (p, id, _) => new QueueCommands.Delete(p, id));

        api.MapGet("/domains", () => Results.Ok(directory.Domains()));
        api.MapPost("/domains", (DomainInfo domain) => Directory(() => directory.AddDomain(domain)));
        api.MapDelete("/domains/{name}", (string name) => Directory(() => directory.DeleteDomain(name)));
        api.MapGet("/users", (string? domain) => Results.Ok(directory.Users(domain)));
        api.MapPost("/users", (NewUser user) => Directory(() => directory.AddUser(user)));
        api.MapDelete("/users/{address}", (string address) => Directory(() => directory.DeleteUser(address)));
        api.MapPost("/users/{address}/password", (string address, PasswordChange change) => Directory(() => directory.SetPassword(address, change.Password)));
        api.MapGet("/aliases", () => Results.Ok(directory.Aliases()));
        api.MapPost("/aliases", (AliasInfo alias) => Directory(() => directory.AddAlias(alias)));
        api.MapDelete("/aliases/{source}", (string source) => Directory(() => directory.DeleteAlias(source)));

        api.MapGet("/config", (bool? changed) => Results.Ok(config.Show(changed == true)));
        api.MapPost("/config/reload", () => Guard(async () => Results.Ok(await cluster.ReloadAsync().ConfigureAwait(false))));
        api.MapGet("/stats", (CancellationToken cancel) => Guard(async () =>
        {
            var queues = await queue.CountsAsync(cancel).ConfigureAwait(false);
            var members = Akka.Cluster.Cluster.Get(cluster.System).State.Members;
            return Results.Ok(new Stats(queues, members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up), members.Count,
                directory.Domains().Count, directory.Users(null).Count, directory.Aliases().Count));
        }));

        api.MapGet("/log/{id}", (string id) => Guard(async () =>
        {
            if (!QueueId.TryParse(id, out _))
                throw new FormatException($"'{id}' is not a queue id");
            var log = await cluster.LogAsync(id).ConfigureAwait(false);
            return log.Lines.Count > 0 || log.Silent.Count > 0
                ? Results.Ok(log)
                : Results.NotFound(new Problem($"no node has log lines for {id} (each keeps its latest engine.log.keep-lines)"));
        }));
        api.MapGet("/cluster", () => Guard(async () => Results.Ok(await cluster.StatusAsync().ConfigureAwait(false))));
        api.MapPost("/cluster/leave", (MemberAddress member) => cluster.Leave(member.Address)
            ? Results.Ok(new Changed(1)) : Results.NotFound(new Problem($"no member {member.Address}")));
        api.MapPost("/cluster/down", (MemberAddress member) => cluster.Down(member.Address)
            ? Results.Ok(new Changed(1)) : Results.NotFound(new Problem($"no member {member.Address}")));
    }

    /// <summary>hold, release, requeue, delete: for the ids given, or every message the filter matches ("all": every message).</summary>
    private void MapCommand(RouteGroupBuilder api, string verb, Func<int, QueueId, QueueSelection, IQueuePartitionMessage> command) =>
        api.MapPost($"/queue/{verb}", (QueueSelection selection, CancellationToken cancel) => Guard(async () =>
        {
            var ids = await queue.SelectAsync(selection, cancel).ConfigureAwait(false);
            return Results.Ok(new Changed(await queue.ApplyAsync(ids, (p, id) => command(p, id, selection), cancel).ConfigureAwait(false)));
        }));

    /// <summary>A directory change: "no such ..." is 404, any other refusal (exists, still has users, not an address) 409.</summary>
    private static IResult Directory(Action change)
    {
        try
        {
            change();
            return Results.Ok(new Changed(1));
        }
        catch (Engine.Storage.Accounts.DirectoryException e)
        {
            return e.Message.StartsWith("no ", StringComparison.Ordinal)
                ? Results.NotFound(new Problem(e.Message))
                : Results.Conflict(new Problem(e.Message));
        }
    }

    /// <summary>The most messages one listing request returns (enginectl pages through more).</summary>
    private const int MaxPage = 10_000;

    /// <summary>A bad filter is the caller's mistake (400); a partition that does not answer is the engine's (503).</summary>
    private static async Task<IResult> Guard(Func<Task<IResult>> run)
    {
        try
        {
            return await run().ConfigureAwait(false);
        }
        catch (FormatException e)
        {
            return Results.BadRequest(new Problem(e.Message));
        }
        catch (Akka.Actor.AskTimeoutException)
        {
            return Results.Json(new Problem("the queue did not answer in time"), AdminJson.Default.Problem, statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    }
}

internal static partial class Log
{
    [LoggerMessage(1500, LogLevel.Information, "admin API listening on {EndPoints}")]
    public static partial void Listening(ILogger logger, string endPoints);
}
