using System.Net;
using System.Security.Authentication;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Hosting;
using Akka.Cluster.Sharding;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Persistence.Sql.Hosting;
using Akka.Remote.Hosting;
using Engine.Delivery;
using Engine.Delivery.Mx;
using Engine.Delivery.Smtp;
using Engine.Host.Configuration;
using Engine.Host.Logging;
using Engine.Mailbox.Access;
using Engine.Mailbox.Imap;
using Engine.Mailbox.Pop3;
using Engine.Messages;
using Engine.Messages.Delivery;
using Engine.Messages.Greylist;
using Engine.Messages.Mailbox;
using Engine.Messages.Queue;
using Engine.Messages.Serialization;
using Engine.Network;
using Engine.Network.Proxy;
using Engine.Network.Tls;
using Engine.Primitives;
using Engine.Protocols.Sasl;
using Engine.Queue;
using Engine.Queue.Routing;
using Engine.Smtp;
using Engine.Smtp.Server;
using Engine.Storage.Accounts;
using Engine.Storage.Blobs;
using Engine.Storage.Maildir;
using Engine.Storage.Sql;
using Engine.Web.Admin;
using LinqToDB;
using LinqToDB.DataProvider.PostgreSQL;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Engine.Host;

/// <summary>
/// The one composition root: Generic Host + Akka.Hosting. A node with no seed nodes joins itself as a
/// cluster of one. Hosted services stop in reverse order, so SMTP drains before the actor system leaves.
/// </summary>
public static class EngineHost
{
    /// <param name="source">Where <paramref name="config"/> was read from, to read it again on a reload; null: nothing to read again.</param>
    public static IHost Build(Config config, Action<ILoggingBuilder>? logging = null, ConfigSource? source = null)
    {
        var smtp = SmtpSettings.Create(config);
        var queue = QueueSettings.Create(config);
        var dataDir = Path.GetFullPath(config.GetString("engine.data-dir", "data"));
        Directory.CreateDirectory(dataDir);
        var fsync = config.GetBoolean("engine.storage.fsync", true);
        var database = Database(config);
        var journalSync = JournalSync.For(database);

        var builder = HostBuilder();
        builder.Services.AddSingleton(_ => journalSync); // made by a factory, so that the host disposes it at the end
        switch (config.GetString("engine.log.format", "text").ToLowerInvariant())
        {
            case "text":
                builder.Logging.AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.TimestampFormat = "yyyy-MM-dd HH:mm:ss.fff ";
                    o.UseUtcTimestamp = true;
                });
                break;
            case "json":
                // One JSON object a line for log shippers: the maillog text in "Message", its fields (QueueId, ...) in "State".
                builder.Logging.AddJsonConsole(o =>
                {
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                    o.UseUtcTimestamp = true;
                    o.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false };
                });
                break;
            case var other:
                throw new ConfigurationException($"engine.log.format: '{other}' is not text or json");
        }
        // The console's formatters, written in batches by one thread instead of the console logger's wake per line.
        builder.Services.RemoveAll<ILoggerProvider>();
        builder.Services.AddSingleton<ILoggerProvider, BatchedConsoleLoggerProvider>();
        logging?.Invoke(builder.Logging);
        // The latest lines about each queued message, for enginectl log (after the caller's providers, which may clear them).
        var maillog = new MaillogBuffer(config.GetInt("engine.log.keep-lines", 100_000));
        builder.Logging.AddProvider(maillog);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = smtp.ShutdownGrace + TimeSpan.FromSeconds(20));
        // First of the hosted services, so that a SIGHUP during the start is a reload (kept until SMTP starts), not the end.
        builder.Services.AddHostedService(sp => new ReloadOnHangup(sp.GetRequiredService<ConfigReloader>()));
        builder.Services.AddSingleton(smtp);
        builder.Services.AddSingleton(queue);
        var blobs = BlobStore(config, dataDir, database, fsync);
        builder.Services.AddSingleton(blobs);
        // The transport map and mydestination as the queue partitions of this node see them; a reload replaces them.
        var routing = Router.Create(config, smtp.MyDestination);
        var delivery = DeliverySettings.Create(config, smtp.Hostname, smtp.Listen);
        var dnsServers = config.GetStringList("engine.delivery.dns-servers").Select(s => IPEndPoint.TryParse(s, out var e)
            ? e.Port == 0 ? new IPEndPoint(e.Address, 53) : e
            : throw new ConfigurationException($"engine.delivery.dns-servers: '{s}' is not address[:port]")).ToArray();
        var resolver = Resolver(dnsServers, config.GetTimeSpan("engine.delivery.dns-timeout", TimeSpan.FromSeconds(5)));
        var mx = new MxResolver(resolver);
        var maildir = new MaildirStore(Path.Combine(dataDir, config.GetString("engine.mailbox.root", "mail")), fsync, MaildirSync(config));
        var directory = OpenDirectory(config, database);
        builder.Services.AddSingleton<IRecipientDirectory>(_ =>
            new CachedDirectory(directory, config.GetTimeSpan("engine.directory.refresh", TimeSpan.FromSeconds(5)))
            {
                Rehash = config.GetBoolean("engine.auth.rehash", true),
                KeepCramMd5 = KeepsCramMd5(config),
            });

        var counts = new CountExchange();
        var greylist = SmtpRestrictions.GreylistSettings(config);
        var roles = config.GetStringList("engine.cluster.roles").ToArray();
        if (roles.FirstOrDefault(r => !Roles.Contains(r)) is { } unknown)
            throw new ConfigurationException($"engine.cluster.roles: '{unknown}' is not one of {string.Join(", ", Roles)}");
        var seeds = config.GetStringList("engine.cluster.seed-nodes").ToArray();
        builder.Services.AddAkka("engine", (akka, _) =>
        {
            akka.AddHocon(PersistenceTuning(database, config.GetTimeSpan("engine.cluster.down-unreachable-after", TimeSpan.FromSeconds(20))), HoconAddMode.Prepend)
                .ConfigureLoggers(l => l.AddLoggerFactory())
                .WithRemoting(config.GetString("engine.cluster.hostname", "127.0.0.1"), config.GetInt("engine.cluster.port", 0))
                .WithClustering(new ClusterOptions { Roles = roles, SeedNodes = seeds.Length > 0 ? seeds : null })
                .WithDistributedPubSub("")
                .WithJournal(database)
                .WithShardRegion<MailboxRegionKey>(
                    MailboxExtractor.TypeName,
                    account => Mailbox.Mailbox.Props(account, maildir, blobs, config.GetBoolean("engine.mailbox.quota-full-tempfail", true), journalSync),
                    new MailboxExtractor(config.GetInt("engine.mailbox.shards", 100)),
                    // A mailbox passivates itself when idle and unwatched (a watched one would be asked for again at once).
                    new ShardOptions { Role = "mailbox", StateStoreMode = StateStoreMode.DData, ShouldPassivateIdleEntities = false })
                .WithShardRegion<GreylistRegionKey>(
                    GreylistExtractor.TypeName,
                    (_, registry, _) => bucket => Engine.Filtering.Greylist.Greylist.Props(bucket, greylist, registry.Get<GreylistRegionKey>()),
                    new GreylistExtractor(greylist.Buckets),
                    new ShardOptions { Role = "smtp", StateStoreMode = StateStoreMode.DData })
                .WithShardRegion<DestinationRegionKey>(
                    DestinationExtractor.TypeName,
                    nextHop => Destination.Props(nextHop, blobs, delivery, mx),
                    new DestinationExtractor(100),
                    // A send may take longer than the idle time (DATA allows 10 minutes): never passivate mid-send.
                    new ShardOptions { Role = "delivery", StateStoreMode = StateStoreMode.DData, ShouldPassivateIdleEntities = false })
                .WithShardRegion<QueueRegionKey>(
                    QueuePartitionExtractor.TypeName,
                    (_, registry, resolver) => entityId => QueuePartition.Props(entityId, queue, registry.Get<MailboxRegionKey>(),
                        registry.Get<DestinationRegionKey>(), registry.Get<QueueRegionKey>(), smtp.Hostname, () => Volatile.Read(ref routing),
                        resolver.GetService<IRecipientDirectory>(), blobs, journalSync, resolver.GetService<ILoggerFactory>()),
                    new QueuePartitionExtractor(queue.Partitions),
                    new ShardOptions
                    {
                        Role = "queue",
                        RememberEntities = true,
                        RememberEntitiesStore = RememberEntitiesStore.Eventsourced,
                        StateStoreMode = StateStoreMode.DData,
                    })
                .WithActors((system, registry, resolver) =>
                {
                    system.ActorOf(ConfigReloadActor.Props(resolver.GetService<ConfigReloader>()), ConfigReloadActor.Name);
                    system.ActorOf(MaillogActor.Props(maillog), MaillogActor.Name);
                    var sweepEvery = config.GetTimeSpan("engine.queue.spool-sweep-interval", TimeSpan.FromHours(1));
                    if (roles.Contains("queue") && blobs is ISweptBlobStore swept && sweepEvery > TimeSpan.Zero)
                        system.ActorOf(SpoolSweep.Props(swept, blobs, registry.Get<QueueRegionKey>(), queue.Partitions, sweepEvery,
                            config.GetTimeSpan("engine.queue.spool-sweep-min-age", TimeSpan.FromHours(1)),
                            resolver.GetService<ILoggerFactory>().CreateLogger("Engine.Queue")), SpoolSweep.Name);
                })
                .AddStartup((system, _) =>
                {
                    var gossip = system.ActorOf(CountGossip.Props(DistributedPubSub.Get(system).Mediator, counts), "count-gossip");
                    counts.Outbound = change => gossip.Tell(change);
                    if (seeds.Length == 0)
                    {
                        var cluster = Cluster.Get(system);
                        cluster.Join(cluster.SelfAddress);
                    }
                });
        });
        builder.Services.AddSingleton(new LoginGuard(GuardSettings(config), counts));
        builder.Services.AddSingleton(new SendRates(smtp.RateWindow, smtp.MessageRateLimit, smtp.RecipientRateLimit, counts));
        builder.Services.AddSingleton(new ClientRates(new ClientRateLimits(config.GetTimeSpan("engine.smtp.anvil-rate-time-unit", TimeSpan.FromMinutes(1)),
            config.GetInt("engine.smtp.client-connection-rate-limit", 0), config.GetInt("engine.smtp.client-message-rate-limit", 0),
            config.GetInt("engine.smtp.client-recipient-rate-limit", 0)), counts));
        builder.Services.AddSingleton(sp => OpenTls(config, dataDir, smtp.Hostname, sp.GetRequiredService<ILoggerFactory>().CreateLogger("Engine.Tls")));
        builder.Services.AddSingleton<Engine.Filtering.Greylist.IGreylist>(sp =>
        {
            var region = sp.GetRequiredService<IRequiredActor<GreylistRegionKey>>();
            return new Engine.Filtering.Greylist.ShardedGreylist(() => region.ActorRef, greylist.Buckets, TimeSpan.FromSeconds(10));
        });
        var dnsLookup = new Engine.Filtering.Dns.DnsLookup(resolver);
        builder.Services.AddSingleton(sp => SmtpRestrictions.Create(config, smtp, sp.GetRequiredService<IRecipientDirectory>(),
            dnsLookup, sp.GetRequiredService<Engine.Filtering.Greylist.IGreylist>()));
        var policyListen = config.GetStringList("engine.policy.listen", []).Select(e => IPEndPoint.TryParse(e, out var p) && p.Port > 0 ? p
            : throw new ConfigurationException($"engine.policy.listen: '{e}' is not address:port")).ToArray();
        builder.Services.AddSingleton(sp => new Engine.Smtp.Policy.PolicyServer(policyListen,
            SmtpRestrictions.Greylisting(config, sp.GetRequiredService<Engine.Filtering.Greylist.IGreylist>()),
            sp.GetRequiredService<Engine.Filtering.Restrictions.Restrictions>().Site, sp.GetRequiredService<ILoggerFactory>()));
        if (roles.Contains("smtp"))
            builder.Services.AddHostedService(sp => sp.GetRequiredService<Engine.Smtp.Policy.PolicyServer>());
        if (ProxyProtocolOf(config) is { } proxy)
            builder.Services.AddSingleton(proxy);
        builder.Services.AddSingleton<SmtpServer>();
        if (roles.Contains("smtp"))
            builder.Services.AddHostedService(sp => sp.GetRequiredService<SmtpServer>());
        builder.Services.AddSingleton(maildir);
        builder.Services.AddSingleton(sp => ActivatorUtilities.CreateInstance<Pop3Server>(sp,
            AccessSettings.Create(config, "engine.pop3", TimeSpan.FromMinutes(10))));
        if (roles.Contains("pop3"))
            builder.Services.AddHostedService(sp => sp.GetRequiredService<Pop3Server>());
        builder.Services.AddSingleton(ImapSettings.Create(config));
        builder.Services.AddSingleton<ImapServer>();
        if (roles.Contains("imap"))
            builder.Services.AddHostedService(sp => sp.GetRequiredService<ImapServer>());
        var admin = AdminSettings.Create(config, dataDir);
        builder.Services.AddSingleton(admin);
        builder.Services.AddSingleton(sp =>
        {
            var region = sp.GetRequiredService<IRequiredActor<QueueRegionKey>>();
            var recipients = sp.GetRequiredService<IRecipientDirectory>();
            return new QueueAdmin(() => region.GetAsync(), blobs, () => recipients.Current, admin);
        });
        builder.Services.AddSingleton(sp => new ClusterAdmin(sp.GetRequiredService<ActorSystem>(),
            [(QueuePartitionExtractor.TypeName, "queue"), (DestinationExtractor.TypeName, "delivery"), (MailboxExtractor.TypeName, "mailbox"),
                (GreylistExtractor.TypeName, "smtp")], admin.AskTimeout));
        builder.Services.AddSingleton(sp => new DirectoryAdmin(directory, () => (sp.GetRequiredService<IRecipientDirectory>() as CachedDirectory)?.Refresh(),
            KeepsCramMd5(config)));
        builder.Services.AddSingleton(sp =>
        {
            var log = sp.GetRequiredService<ILoggerFactory>().CreateLogger("Engine.Config");
            var reloader = new ConfigReloader(source, config, () => Cluster.Get(sp.GetRequiredService<ActorSystem>()).SelfAddress.ToString(), log);
            reloader.Add(next =>
            {
                // The host name, the queue's partitions and the SASL mechanisms are the start's (they take a restart).
                var settings = SmtpSettings.Create(next, smtp.Hostname) with { QueuePartitions = smtp.QueuePartitions, AuthMechanisms = smtp.AuthMechanisms };
                var restrictions = SmtpRestrictions.Create(next, settings, sp.GetRequiredService<IRecipientDirectory>(), dnsLookup,
                    sp.GetRequiredService<Engine.Filtering.Greylist.IGreylist>());
                return () => sp.GetRequiredService<SmtpServer>().Reconfigure(settings, restrictions);
            });
            reloader.Add(next =>
            {
                var tls = OpenTls(next, dataDir, smtp.Hostname, sp.GetRequiredService<ILoggerFactory>().CreateLogger("Engine.Tls"));
                return () => sp.GetRequiredService<ServerTls>().Replace(tls);
            });
            reloader.Add(next =>
            {
                var router = Router.Create(next, SmtpSettings.Create(next, smtp.Hostname).MyDestination);
                return () => Volatile.Write(ref routing, router);
            });
            return reloader;
        });
        builder.Services.AddSingleton(sp => new ConfigAdmin(() => sp.GetRequiredService<ConfigReloader>().Current, EngineConfig.Defaults()));
        builder.Services.AddSingleton(sp => new AdminCertificate(name => sp.GetRequiredService<ServerTls>().Certificates.Select(name)));
        builder.Services.AddSingleton<AdminServer>();
        if (roles.Contains("web"))
            builder.Services.AddHostedService(sp => sp.GetRequiredService<AdminServer>());
        return builder.Build();
    }

    /// <summary>engine.storage.spool-dir: the message bodies, in the data folder, or a folder every node mounts (NFS) in a cluster.</summary>
    /// <summary>engine.proxy-protocol: null when no listener takes it; its listeners must be ones the node has.</summary>
    public static ProxyProtocol? ProxyProtocolOf(Config config)
    {
        const string section = "engine.proxy-protocol";
        IPEndPoint EndPoint(string key, string text) => IPEndPoint.TryParse(text, out var e)
            ? e : throw new ConfigurationException($"{key}: '{text}' is not address:port");
        var listeners = config.GetStringList(section + ".listeners", []).Select(l => EndPoint(section + ".listeners", l)).ToHashSet();
        if (listeners.Count == 0)
            return null;
        string[] services = ["engine.smtp.listen", "engine.submission.listen", "engine.submission.listen-tls", "engine.imap.listen",
            "engine.imap.listen-tls", "engine.pop3.listen", "engine.pop3.listen-tls"];
        var known = services.SelectMany(key => config.GetStringList(key, []).Select(l => EndPoint(key, l))).ToHashSet();
        if (listeners.FirstOrDefault(l => !known.Contains(l)) is { } stray)
            throw new ConfigurationException($"{section}.listeners: {stray} is not the listen address of a service");
        IpNetwork[] trusted;
        try
        {
            trusted = config.GetStringList(section + ".trusted-networks", []).Select(IpNetwork.Parse).ToArray();
        }
        catch (FormatException e)
        {
            throw new ConfigurationException($"{section}.trusted-networks: {e.Message}");
        }
        if (trusted.Length == 0)
            throw new ConfigurationException($"{section}.trusted-networks: empty, so no balancer could connect to {string.Join(", ", listeners)}");
        return new ProxyProtocol(listeners, a => trusted.Any(n => n.Contains(a)), config.GetTimeSpan(section + ".timeout", TimeSpan.FromSeconds(5)));
    }

    /// <summary>Where bodies are kept (engine.storage.blob-store): segments or files in the spool folder, or the cluster's PostgreSQL.</summary>
    private static IBlobStore BlobStore(Config config, string dataDir, EngineDatabase database, bool fsync) =>
        config.GetString("engine.storage.blob-store", "segments") switch
        {
            "segments" => new SegmentBlobStore(SpoolDir(config, dataDir), fsync,
                commitDelay: config.GetTimeSpan("engine.storage.commit-delay", TimeSpan.FromMilliseconds(1), allowInfinite: false)),
            "files" => new FileBlobStore(SpoolDir(config, dataDir), fsync),
            "database" when database.Provider == DatabaseProvider.PostgreSql => new SqlBlobStore(database),
            "database" => throw new ConfigurationException(
                "engine.storage.blob-store = database needs engine.persistence.provider = postgresql (in SQLite a body would hold the write lock while it arrives)"),
            var other => throw new ConfigurationException($"engine.storage.blob-store: '{other}' is not segments, files or database"),
        };

    /// <summary>Whether deliveries share syncs of the mail's file system (engine.mailbox.sync = filesystem) or fsync their own files.</summary>
    private static bool MaildirSync(Config config) =>
        config.GetString("engine.mailbox.sync", "filesystem") switch
        {
            "filesystem" => true,
            "files" => false,
            var other => throw new ConfigurationException($"engine.mailbox.sync: '{other}' is not filesystem or files"),
        };

    private static string SpoolDir(Config config, string dataDir) => Path.Combine(dataDir, config.GetString("engine.storage.spool-dir", "spool"));

    /// <summary>
    /// What a node can be, set per node in engine.cluster.roles: smtp (the SMTP listeners, the greylist's shards, the
    /// policy service), queue, delivery and mailbox (the shards of those entities), imap, pop3 and web (those
    /// listeners); filter is taken for the content filters to come. A single node has them all.
    /// </summary>
    public static readonly IReadOnlyList<string> Roles = ["smtp", "filter", "queue", "delivery", "mailbox", "imap", "pop3", "web"];

    /// <summary>
    /// The node's one DNS client (engine.delivery.dns-servers, or the system's resolvers), shared by delivery and
    /// the restrictions, with one cache that keeps each answer for its TTL. Errors come back as answers.
    /// </summary>
    private static DnsClient.LookupClient Resolver(IPEndPoint[] servers, TimeSpan timeout)
    {
        var options = servers.Length == 0 ? new DnsClient.LookupClientOptions() : new DnsClient.LookupClientOptions(servers);
        options.UseCache = true;
        options.Timeout = timeout;
        options.Retries = 1;
        options.ThrowDnsErrors = false;
        options.ContinueOnDnsError = false;
        return new DnsClient.LookupClient(options);
    }

    /// <summary>Whether CRAM-MD5 is among engine.auth.mechanisms, so new credentials include its key.</summary>
    public static bool KeepsCramMd5(Config config) =>
        config.GetStringList("engine.auth.mechanisms", [.. SaslMechanisms.Defaults]).Contains("CRAM-MD5", StringComparer.OrdinalIgnoreCase);

    /// <summary>engine.auth.guard: when failed logins slow a client down and block it.</summary>
    private static LoginGuardSettings GuardSettings(Config config)
    {
        var d = LoginGuardSettings.Default;
        var settings = new LoginGuardSettings(config.GetTimeSpan("engine.auth.guard.window", d.Window),
            config.GetTimeSpan("engine.auth.guard.delay-step", d.DelayStep), config.GetTimeSpan("engine.auth.guard.max-delay", d.MaxDelay),
            config.GetInt("engine.auth.guard.address-limit", d.AddressLimit), config.GetInt("engine.auth.guard.account-limit", d.AccountLimit),
            config.GetTimeSpan("engine.auth.guard.block-time", d.BlockTime));
        if (settings.AddressLimit < 1 || settings.AccountLimit < 1)
            throw new ConfigurationException("engine.auth.guard: the limits must be positive");
        return settings;
    }

    /// <summary>
    /// The node's TLS (engine.tls): the certificates of <c>certificates</c> (a list of { chain, key } PEM files), or
    /// a self-signed one made in data-dir/tls; the protocols allowed; the handshake's time limit.
    /// </summary>
    public static ServerTls OpenTls(Config config, string dataDir, string hostname, ILogger log)
    {
        var files = (config.GetValue("engine.tls.certificates")?.GetArray() ?? []).Select(v =>
        {
            var entry = v.GetObject();
            return new CertificateFiles(
                entry.GetKey("chain")?.GetString() ?? throw new ConfigurationException("engine.tls.certificates: an entry without chain"),
                entry.GetKey("key")?.GetString() ?? throw new ConfigurationException("engine.tls.certificates: an entry without key"));
        }).ToArray();
        SslProtocols protocols;
        try
        {
            protocols = ServerTls.ParseProtocols(config.GetStringList("engine.tls.protocols", ["TLSv1.2", "TLSv1.3"]));
        }
        catch (ArgumentException e)
        {
            throw new ConfigurationException("engine.tls.protocols: " + e.Message);
        }
        var store = CertificateStore.Open(files, Path.Combine(dataDir, "tls"), hostname, config.GetTimeSpan("engine.tls.reload-check", TimeSpan.FromSeconds(60)),
            warning => log.LogWarning("{Warning}", warning));
        log.LogInformation("TLS certificate: {Subject}, valid until {NotAfter:u}", store.Default.Subject, store.Default.NotAfter.ToUniversalTime());
        return new ServerTls(store, protocols, config.GetTimeSpan("engine.tls.handshake-timeout", TimeSpan.FromSeconds(30)));
    }

    /// <summary>The journal and snapshots in the engine's database (SQLite or PostgreSQL), with the engine's serializer.</summary>
    private static AkkaConfigurationBuilder WithJournal(this AkkaConfigurationBuilder akka, EngineDatabase database)
    {
        var provider = database.Provider == DatabaseProvider.PostgreSql ? ProviderName.PostgreSQL15 : ProviderName.SQLiteMS;
        return akka.WithSqlPersistence(
                journal =>
                {
                    journal.ConnectionString = database.JournalConnectionString;
                    journal.ProviderName = provider;
                    // On SQLite the engine makes the journal's tables (SqliteJournalSchema, in PrepareSqlite): without the
                    // two indexes nothing reads, which the plugin would make again at every start.
                    journal.AutoInitialize = database.Provider == DatabaseProvider.PostgreSql;
                    journal.DataOptions = DataOptionsOf(database);
                },
                snapshot =>
                {
                    snapshot.ConnectionString = database.JournalConnectionString;
                    snapshot.ProviderName = provider;
                    snapshot.AutoInitialize = true;
                    snapshot.DataOptions = DataOptionsOf(database);
                })
            .WithCustomSerializer("engine", [typeof(IEngineMessage)], system => new EngineSerializer(system));
    }

    /// <summary>
    /// A host for the operators' commands that work on entities (<c>engine mailbox import</c>): an actor system
    /// with the engine's journal, no cluster and no listeners. The node must not run the same entities meanwhile.
    /// </summary>
    public static IHost BuildTool(Config config)
    {
        var dataDir = Path.GetFullPath(config.GetString("engine.data-dir", "data"));
        Directory.CreateDirectory(dataDir);
        var database = Database(config);
        var fsync = config.GetBoolean("engine.storage.fsync", true);
        var builder = HostBuilder();
        builder.Services.AddSingleton(new MaildirStore(Path.Combine(dataDir, config.GetString("engine.mailbox.root", "mail")), fsync, MaildirSync(config)));
        builder.Services.AddSingleton(BlobStore(config, dataDir, database, fsync));
        var journalSync = JournalSync.For(database);
        builder.Services.AddSingleton(_ => journalSync);
        builder.Services.AddAkka("engine-tool", (akka, _) => akka.AddHocon(PersistenceTuning(database), HoconAddMode.Prepend).WithJournal(database));
        return builder.Build();
    }

    /// <summary>
    /// A host with no providers of its own. Configuration is HOCON: the host's appsettings.json watcher would
    /// otherwise watch the working directory, spool included, and wake for every file the spool creates.
    /// </summary>
    private static HostApplicationBuilder HostBuilder()
    {
        var settings = new HostApplicationBuilderSettings { Configuration = new ConfigurationManager() };
        settings.Configuration.AddInMemoryCollection([new("hostBuilder:reloadConfigOnChange", "false")]);
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(settings);
        builder.Logging.ClearProviders();
        return builder;
    }

    /// <summary>
    /// SQLite keeps one writer per file, so one journal writer with batches: the journal folds the writes of
    /// many partitions into one transaction. PostgreSQL takes a few writers at once.
    /// No "clone connection": the plugin's clone gave each transaction a new linq2db mapping schema, so linq2db
    /// built the schema again and missed its query cache at every write (an eighth of the engine's allocations).
    /// </summary>
    private static string PersistenceTuning(EngineDatabase database, TimeSpan? downAfter = null) => $$"""
        akka.persistence.journal.sql { parallelism = {{(database.Provider == DatabaseProvider.PostgreSql ? 3 : 1)}}, batch-size = 100, use-clone-connection = off }
        # A node that stays unreachable this long is downed by the side that keeps the majority (a minority downs itself),
        # and its shards start again on the others.
        akka.cluster.downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
        akka.cluster.split-brain-resolver {
          active-strategy = keep-majority
          stable-after = {{(int)(downAfter ?? TimeSpan.FromSeconds(20)).TotalMilliseconds}}ms
          down-all-when-unstable = on
        }
        akka.persistence.snapshot-store.sql { use-clone-connection = off }
        # Room for a page of the queue listing (cut at about 1 MB by the partition) and other large answers.
        akka.remote.dot-netty.tcp.maximum-frame-size = 4MiB
        # The host stops the actor system after the SMTP service has drained, not the CLR's exit hook.
        akka.coordinated-shutdown.run-by-clr-shutdown-hook = off
        """;

    /// <summary>The directory's tables in the engine's database (created when missing).</summary>
    public static SqlDirectory OpenDirectory(Config config, EngineDatabase? database = null)
    {
        var separator = config.GetString("engine.directory.subaddress-separator", "+");
        var directory = new SqlDirectory(database ?? Database(config), separator.Length > 0 ? separator[0] : null);
        directory.EnsureSchema();
        return directory;
    }

    /// <summary>
    /// engine.persistence: SQLite in the data folder (the embedded default), or PostgreSQL, the database a cluster's
    /// nodes share, with its connection string and the password from a file (or PGPASSWORD, or ~/.pgpass).
    /// </summary>
    public static EngineDatabase Database(Config config)
    {
        switch (config.GetString("engine.persistence.provider", "sqlite").ToLowerInvariant())
        {
            case "sqlite":
                var dataDir = Path.GetFullPath(config.GetString("engine.data-dir", "data"));
                Directory.CreateDirectory(dataDir);
                return new EngineDatabase(DatabaseProvider.Sqlite,
                    PrepareSqlite(Path.Combine(dataDir, config.GetString("engine.persistence.sqlite-file", "engine.db"))));
            case "postgresql":
                NpgsqlConnectionStringBuilder builder;
                try
                {
                    builder = new NpgsqlConnectionStringBuilder(config.GetString("engine.persistence.postgresql.connection-string", ""));
                }
                catch (ArgumentException e)
                {
                    throw new ConfigurationException($"engine.persistence.postgresql.connection-string: {e.Message}");
                }
                if (string.IsNullOrEmpty(builder.Host))
                    throw new ConfigurationException("engine.persistence.postgresql.connection-string: no Host (Host=...;Database=...;Username=...)");
                var passwordFile = config.GetString("engine.persistence.postgresql.password-file", "");
                if (passwordFile.Length > 0)
                {
                    try
                    {
                        builder.Password = File.ReadAllText(passwordFile).Trim();
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        throw new ConfigurationException($"engine.persistence.postgresql.password-file: {e.Message}");
                    }
                }
                return new EngineDatabase(DatabaseProvider.PostgreSql, builder.ConnectionString);
            case var other:
                throw new ConfigurationException($"engine.persistence.provider: '{other}' is not sqlite or postgresql");
        }
    }

    /// <summary>WAL mode sticks to the file: set it once, before the journal opens it. The journal's tables too.</summary>
    private static string PrepareSqlite(string path)
    {
        var connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true }.ToString();
        using var connection = new SqliteConnection(connectionString);
        connection.Open();
        EngineDatabase.Configure(connection); // the lock wait first, so the switch to WAL waits for another writer
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "PRAGMA journal_mode=WAL;";
            command.ExecuteNonQuery();
        }
        SqliteJournalSchema.Ensure(connection);
        return connectionString;
    }

    /// <summary>
    /// How the journal reaches the database. On SQLite its connections (a pool of their own) run with synchronous=NORMAL:
    /// a commit is durable once <see cref="JournalSync"/> has synced the WAL after it, which the queue waits for before a
    /// "250".
    /// </summary>
    private static DataOptions DataOptionsOf(EngineDatabase database) =>
        database.Provider == DatabaseProvider.PostgreSql
            // The provider's name as well as the provider: the journal's mapping reads the name.
            ? new DataOptions().UseConnectionString(PostgreSQLTools.GetDataProvider(PostgreSQLVersion.v15), database.ConnectionString)
                .UseProvider(ProviderName.PostgreSQL15)
            : new DataOptions()
                .UseConnectionString(ProviderName.SQLiteMS, database.JournalConnectionString)
                .UseAfterConnectionOpened(connection => EngineDatabase.ConfigureJournal((SqliteConnection)connection));
}
