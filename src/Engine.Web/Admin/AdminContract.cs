using System.Text.Json.Serialization;

// The admin API's JSON: one file, compiled into the engine (Engine.Web writes it) and into enginectl (which reads
// it, in its own namespace), so enginectl needs no reference to the engine's assemblies.
#if ENGINE_CLI
namespace Engine.Cli.Admin;
#else
namespace Engine.Web.Admin;
#endif

/// <summary>One recipient (or alias target) of a queued message and where it stands: pending, deferred, delivered, bounced.</summary>
public sealed record RecipientState(string Address, string Status, string? Reason = null, int Attempts = 0);

/// <summary>A queued message as the admin API shows it (mailq's line, with each recipient's state).</summary>
public sealed record QueueEntry(string Id, string Queue, DateTimeOffset Arrival, long Size, string Sender, IReadOnlyList<RecipientState> Recipients,
    DateTimeOffset? NextAttempt = null, string? Reason = null);

/// <summary>A page of the queue: the messages that match, in order of arrival, and how many match in all.</summary>
public sealed record QueueListing(int Total, int Offset, IReadOnlyList<QueueEntry> Messages);

/// <summary>One message in full: its entry, what the SMTP server learned of the client, the header and the start of the text.</summary>
public sealed record MessageDetail(QueueEntry Entry, string ClientAddress, string ClientName, string Helo, string Protocol, string? EnvId,
    string Ret, bool SmtpUtf8, string? Filter, string Headers, string Body, bool BodyTruncated);

/// <summary>
/// Which messages an operator's command is for: listed ids, or a filter (queue, sender, recipient, domain, least age),
/// or all; <see cref="Site"/> for flush (postqueue -s), <see cref="Reason"/> for hold.
/// </summary>
public sealed record QueueSelection(IReadOnlyList<string>? Ids = null, string? Queue = null, string? Sender = null, string? Recipient = null,
    string? Domain = null, string? MinAge = null, bool All = false, string? Site = null, string? Reason = null)
{
    [JsonIgnore]
    public bool HasFilter => Queue is not null || Sender is not null || Recipient is not null || Domain is not null || MinAge is not null;
}

/// <summary>How many messages a command changed.</summary>
public sealed record Changed(int Count);

public sealed record ClusterMember(string Address, string Status, IReadOnlyList<string> Roles, bool Leader, bool Self, bool Reachable);

/// <summary>Where the shards of one entity type live: per node, the shard and entity counts.</summary>
public sealed record ShardPlacement(string Type, IReadOnlyList<RegionShards> Regions);

public sealed record RegionShards(string Address, int Shards, int Entities);

public sealed record ClusterStatus(string Self, string? Leader, IReadOnlyList<ClusterMember> Members, IReadOnlyList<ShardPlacement> Shards);

public sealed record MemberAddress(string Address);

public sealed record Problem(string Error);

public sealed record DomainInfo(string Name, string? CatchAll = null);

public sealed record UserInfo(string Address, string DisplayName, long QuotaBytes, bool Enabled);

/// <summary>A user to add: no password leaves the account locked until one is set.</summary>
public sealed record NewUser(string Address, string? DisplayName = null, long? QuotaBytes = null, string? Password = null);

public sealed record PasswordChange(string Password);

public sealed record AliasInfo(string Source, IReadOnlyList<string> Targets);

/// <summary>One setting of the effective configuration, as HOCON would write it.</summary>
public sealed record Setting(string Key, string Value);

/// <summary>The cluster at a glance: messages per queue state on every node, members up, and the directory's size.</summary>
public sealed record Stats(IReadOnlyDictionary<string, int> Queue, int MembersUp, int Members, int Domains, int Users, int Aliases);

/// <summary>One node's answer to a reload: applied, or refused with the file's line and the reason (the running configuration stays).</summary>
public sealed record NodeReload(string Node, bool Applied, string? Error, IReadOnlyList<string> Changed, IReadOnlyList<string> NeedRestart);

/// <summary>What every member of the cluster did with a reload.</summary>
public sealed record ReloadReport(IReadOnlyList<NodeReload> Nodes);

/// <summary>A maillog line about a message, with the node that logged it.</summary>
public sealed record LogLine(DateTimeOffset Time, string Node, string Category, string Level, string Text);

/// <summary>The life of one message across the cluster (enginectl log), and the members that did not answer.</summary>
public sealed record MessageLog(string QueueId, IReadOnlyList<LogLine> Lines, IReadOnlyList<string> Silent);

/// <summary>The admin API's JSON, written by source-generated code.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(QueueListing))]
[JsonSerializable(typeof(MessageDetail))]
[JsonSerializable(typeof(QueueSelection))]
[JsonSerializable(typeof(Changed))]
[JsonSerializable(typeof(ClusterStatus))]
[JsonSerializable(typeof(MemberAddress))]
[JsonSerializable(typeof(Problem))]
[JsonSerializable(typeof(IReadOnlyList<DomainInfo>))]
[JsonSerializable(typeof(IReadOnlyList<UserInfo>))]
[JsonSerializable(typeof(IReadOnlyList<AliasInfo>))]
[JsonSerializable(typeof(DomainInfo))]
[JsonSerializable(typeof(NewUser))]
[JsonSerializable(typeof(PasswordChange))]
[JsonSerializable(typeof(AliasInfo))]
[JsonSerializable(typeof(IReadOnlyList<Setting>))]
[JsonSerializable(typeof(Stats))]
[JsonSerializable(typeof(ReloadReport))]
[JsonSerializable(typeof(MessageLog))]
internal sealed partial class AdminJson : JsonSerializerContext;
