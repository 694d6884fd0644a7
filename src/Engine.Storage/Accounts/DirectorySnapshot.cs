using System.Collections.Frozen;
using Engine.Primitives;

namespace Engine.Storage.Accounts;

/// <summary>A virtual domain, with the address that takes mail for unknown users, if any.</summary>
public sealed record DomainEntry(string Name, string? CatchAll = null);

/// <summary>A virtual user. The password hash is never logged.</summary>
public sealed record UserEntry(string Address, string DisplayName, string PasswordHash, long QuotaBytes, bool Enabled);

/// <summary>An alias: mail to <paramref name="Source"/> goes to each target, local or remote.</summary>
public sealed record AliasEntry(string Source, IReadOnlyList<string> Targets);

public enum RecipientKind
{
    /// <summary>The domain is not a virtual domain of the directory.</summary>
    NotLocal,
    /// <summary>A virtual domain without this user, alias or catch-all: 550 5.1.1 at RCPT.</summary>
    Unknown,
    /// <summary>A user whose account is disabled: 550 5.2.1.</summary>
    Disabled,
    Accepted,
}

/// <summary>Where mail for a recipient goes: the final addresses after aliases, subaddress and catch-all.</summary>
public sealed record RecipientResolution(RecipientKind Kind, IReadOnlyList<string> Targets)
{
    public static readonly RecipientResolution NotLocal = new(RecipientKind.NotLocal, []);
    public static readonly RecipientResolution Unknown = new(RecipientKind.Unknown, []);
    public static readonly RecipientResolution Disabled = new(RecipientKind.Disabled, []);
}

/// <summary>
/// The whole directory at one moment, in memory: every node keeps one and answers RCPT lookups from it
/// without I/O. Lookups ignore case, as Postfix's table lookups do.
/// </summary>
public sealed class DirectorySnapshot
{
    public static readonly DirectorySnapshot Empty = new([], [], [], '+', 0);

    private readonly FrozenDictionary<string, DomainEntry> _domains;
    private readonly FrozenDictionary<string, UserEntry> _users;
    private readonly FrozenDictionary<string, AliasEntry> _aliases;
    private readonly FrozenSet<string> _relayDomains;
    private readonly FrozenSet<string> _relayRecipients;
    private readonly char? _separator;

    /// <summary>The local part without its subaddress ("jane+news" → "jane"), as the directory looks it up.</summary>
    public string BaseLocalPart(string localPart) =>
        _separator is { } sep && localPart.IndexOf(sep) is > 0 and var at ? localPart[..at] : localPart;

    /// <param name="relayDomains">Domains the engine relays for (Postfix's relay_domains): the gateway's.</param>
    /// <param name="relayRecipients">
    /// The valid recipients of relay domains (relay_recipient_maps): addresses, or "@domain" for all of one
    /// domain. Empty: every recipient of a relay domain is taken.
    /// </param>
    public DirectorySnapshot(IEnumerable<DomainEntry> domains, IEnumerable<UserEntry> users, IEnumerable<AliasEntry> aliases,
        char? subaddressSeparator, long version, IEnumerable<string>? relayDomains = null, IEnumerable<string>? relayRecipients = null)
    {
        _domains = domains.ToFrozenDictionary(d => d.Name, StringComparer.OrdinalIgnoreCase);
        _users = users.ToFrozenDictionary(u => u.Address, StringComparer.OrdinalIgnoreCase);
        _aliases = aliases.ToFrozenDictionary(a => a.Source, StringComparer.OrdinalIgnoreCase);
        _relayDomains = (relayDomains ?? []).ToFrozenSet(StringComparer.OrdinalIgnoreCase);
        _relayRecipients = (relayRecipients ?? []).ToFrozenSet(StringComparer.OrdinalIgnoreCase);
        _separator = subaddressSeparator;
        Version = version;
    }

    /// <summary>The directory's change counter when this snapshot was read.</summary>
    public long Version { get; }

    public IReadOnlyCollection<DomainEntry> Domains => _domains.Values;
    public IReadOnlyCollection<UserEntry> Users => _users.Values;
    public IReadOnlyCollection<AliasEntry> Aliases => _aliases.Values;
    public IReadOnlyCollection<string> RelayDomains => _relayDomains;
    public IReadOnlyCollection<string> RelayRecipients => _relayRecipients;

    public bool IsRelayDomain(string domain) => _relayDomains.Contains(domain);

    /// <summary>
    /// Whether a recipient of a relay domain is valid, as Postfix's relay_recipient_maps lookup: the address,
    /// the address without its subaddress, then "@domain". With no list at all, every recipient is.
    /// </summary>
    public bool IsRelayRecipient(EmailAddress address)
    {
        if (_relayRecipients.Count == 0 || _relayRecipients.Contains($"{address.LocalPart}@{address.Domain}")
            || _relayRecipients.Contains("@" + address.Domain))
            return true;
        return _separator is { } sep && address.LocalPart.IndexOf(sep) is > 0 and var at
                                     && _relayRecipients.Contains($"{address.LocalPart[..at]}@{address.Domain}");
    }

    public bool IsLocalDomain(string domain) => _domains.ContainsKey(domain);

    public UserEntry? FindUser(string address) => _users.GetValueOrDefault(address);

    /// <summary>
    /// Whether <paramref name="user"/> may send as <paramref name="sender"/> (Postfix's reject_sender_login_mismatch
    /// with the users and aliases as smtpd_sender_login_maps): the user's own address, with or without a
    /// subaddress, or an alias whose targets include the user.
    /// </summary>
    public bool Owns(string user, EmailAddress sender)
    {
        var address = $"{sender.LocalPart}@{sender.Domain}";
        if (_separator is { } sep && sender.LocalPart.IndexOf(sep) is > 0 and var at)
            address = $"{sender.LocalPart[..at]}@{sender.Domain}";
        return address.Equals(user, StringComparison.OrdinalIgnoreCase)
               || (_aliases.TryGetValue(address, out var alias) && alias.Targets.Contains(user, StringComparer.OrdinalIgnoreCase));
    }

    /// <summary>The SCRAM keys of an enabled user, for a SCRAM exchange; null for anyone else.</summary>
    public ScramCredentials? ScramOf(string address, ScramHash hash) =>
        FindUser(address) is { Enabled: true } user ? PasswordHasher.Scram(user.PasswordHash, hash) : null;

    /// <summary>The CRAM-MD5 key of an enabled user, when one is kept; null for anyone else.</summary>
    public CramMd5Key? CramMd5Of(string address) =>
        FindUser(address) is { Enabled: true } user ? PasswordHasher.CramMd5(user.PasswordHash) : null;

    /// <summary>How deep aliases may nest (Postfix's virtual_alias_recursion_limit).</summary>
    public const int AliasRecursionLimit = 1000;

    /// <summary>
    /// Resolves a recipient as Postfix's virtual_alias_maps then virtual_mailbox_maps would: an alias of
    /// the address, the user, then the same two without the subaddress ("user+tag" → "user"), then the
    /// domain's catch-all. Alias targets in virtual domains are resolved again, as Postfix expands
    /// virtual aliases recursively; an alias that names itself (or an alias above it) delivers to that
    /// address when it is a user's ("jane → jane, archive@..." keeps a copy) and ends a loop otherwise.
    /// </summary>
    /// <summary>
    /// Where a queued recipient goes: its accounts and alias targets (lower case) in the virtual domains, the address
    /// itself for any other domain, none when the directory no longer knows it (it waits, and is reported).
    /// </summary>
    public IReadOnlyList<string> TargetsOf(string address)
    {
        var at = address.LastIndexOf('@');
        if (at <= 0)
            return [];
        var resolution = Resolve(new EmailAddress(address[..at], address[(at + 1)..]));
        return resolution.Kind switch
        {
            RecipientKind.Accepted => resolution.Targets.Select(t => t.ToLowerInvariant()).ToArray(),
            RecipientKind.NotLocal => [address],
            _ => [],
        };
    }

    public RecipientResolution Resolve(EmailAddress address)
    {
        var first = ResolveOnce(address);
        if (first.Kind != RecipientKind.Accepted)
            return first;
        var ancestors = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { $"{address.LocalPart}@{address.Domain}" };
        var targets = new List<string>();
        foreach (var target in first.Targets)
            Expand(target, ancestors, targets, 1);
        return new RecipientResolution(RecipientKind.Accepted, targets.Distinct(StringComparer.OrdinalIgnoreCase).ToArray());
    }

    private void Expand(string target, HashSet<string> ancestors, List<string> into, int depth)
    {
        if (ancestors.Contains(target))
        {
            if (_users.ContainsKey(target))
                into.Add(target); // "jane → jane, ...": jane's own mailbox
            return; // a loop of aliases ends where it began
        }
        var at = target.LastIndexOf('@');
        IReadOnlyList<string>? next = null;
        if (at > 0 && depth < AliasRecursionLimit)
        {
            if (_aliases.TryGetValue(target, out var alias))
                next = alias.Targets;
            else if (!_users.ContainsKey(target) && _domains.ContainsKey(target[(at + 1)..])
                     && ResolveOnce(new EmailAddress(target[..at], target[(at + 1)..])) is { Kind: RecipientKind.Accepted } found)
                next = found.Targets;
        }
        if (next is null)
        {
            into.Add(target);
            return;
        }
        ancestors.Add(target);
        foreach (var t in next)
            Expand(t, ancestors, into, depth + 1);
        ancestors.Remove(target);
    }

    private RecipientResolution ResolveOnce(EmailAddress address)
    {
        if (!_domains.TryGetValue(address.Domain, out var domain))
            return RecipientResolution.NotLocal;
        var found = Lookup(address.LocalPart, address.Domain);
        if (found is null && _separator is { } sep && address.LocalPart.IndexOf(sep) is > 0 and var at)
            found = Lookup(address.LocalPart[..at], address.Domain);
        if (found is not null)
            return found;
        return domain.CatchAll is { } catchAll
            ? new RecipientResolution(RecipientKind.Accepted, [catchAll])
            : RecipientResolution.Unknown;
    }

    private RecipientResolution? Lookup(string local, string domain)
    {
        var full = $"{local}@{domain}";
        if (_aliases.TryGetValue(full, out var alias))
            return new RecipientResolution(RecipientKind.Accepted, alias.Targets);
        if (_users.TryGetValue(full, out var user))
            return user.Enabled ? new RecipientResolution(RecipientKind.Accepted, [user.Address]) : RecipientResolution.Disabled;
        return null;
    }
}
