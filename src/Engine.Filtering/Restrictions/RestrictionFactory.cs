using Engine.Filtering.Access;
using Engine.Filtering.Greylist;
using Engine.Filtering.Policy;
using Engine.Filtering.Restrictions.Any;
using Engine.Filtering.Restrictions.Client;
using Engine.Filtering.Restrictions.Helo;
using Engine.Filtering.Restrictions.Recipient;
using Engine.Filtering.Restrictions.Sender;

namespace Engine.Filtering.Restrictions;

/// <summary>
/// Makes restrictions from their Postfix names: a configured list entry ("check_client_access
/// cidr:/etc/engine/clients"), a named restriction class (Postfix's smtpd_restriction_classes), or a list an
/// access table answers with. Entries are split on white space and commas; a name that takes an argument
/// takes the next word. An unknown name is a FormatException: a typo fails at start, not on the first client.
/// </summary>
public sealed class RestrictionFactory
{
    private readonly IReadOnlyDictionary<string, IReadOnlyList<string>> _classes;
    private readonly Dictionary<string, AccessTable> _tables = new(StringComparer.Ordinal);
    private readonly Dictionary<string, RestrictionList> _madeClasses = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _making = new(StringComparer.OrdinalIgnoreCase);
    private readonly AccessAction _actions;
    private readonly Lock _lock = new();

    private readonly IReadOnlyList<ScoredList> _scoredLists;
    private readonly int _threshold;
    private readonly HashSet<string> _zones = new(StringComparer.OrdinalIgnoreCase);

    /// <param name="scoredLists">engine.smtp.dnsbl.sites, for reject_dnsbl_score.</param>
    /// <param name="threshold">engine.smtp.dnsbl.threshold.</param>
    private readonly Func<CheckGreylist>? _greylist;
    private readonly Dictionary<string, PolicyClient> _policies = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>How long a policy server may take to answer (Postfix's smtpd_policy_service_timeout is 100s; a client waits less).</summary>
    public TimeSpan PolicyTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <param name="greylist">Makes check_greylist (the cluster's greylist and its allow-lists); null where there is none.</param>
    public RestrictionFactory(IReadOnlyDictionary<string, IReadOnlyList<string>>? classes = null, IReadOnlyList<ScoredList>? scoredLists = null,
        int threshold = 1, Func<CheckGreylist>? greylist = null)
    {
        _greylist = greylist;
        _classes = classes ?? new Dictionary<string, IReadOnlyList<string>>();
        _scoredLists = scoredLists ?? [];
        _threshold = threshold;
        _actions = new AccessAction(value => Parse("access table result", [value]));
    }

    /// <summary>The access tables named so far, by spec (to report their reload errors).</summary>
    public IReadOnlyCollection<AccessTable> Tables
    {
        get
        {
            lock (_lock)
                return _tables.Values.ToArray();
        }
    }

    /// <summary>The DNS lists of the client's address that restrictions made so far ask: looked up as soon as a client connects.</summary>
    public IReadOnlyCollection<string> ClientZones
    {
        get
        {
            lock (_lock)
                return _zones.ToArray();
        }
    }

    /// <summary>Whether a restriction made so far needs the client's name (so it is looked up at connect).</summary>
    public bool NeedsClientName { get; private set; }

    /// <summary>A list of restrictions from configured entries, each one or more words.</summary>
    public RestrictionList Parse(string name, IEnumerable<string> entries)
    {
        lock (_lock)
        {
            var words = new Queue<string>(entries.SelectMany(e => e.Split([' ', '\t', ',', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries)));
            var items = new List<IRestriction>();
            while (words.Count > 0)
                items.Add(Create(words.Dequeue(), words));
            return new RestrictionList(name, items);
        }
    }

    private IRestriction Create(string word, Queue<string> rest)
    {
        var name = word.ToLowerInvariant();
        string Argument() => rest.Count > 0 ? rest.Dequeue() : throw new FormatException($"{name} needs an argument");
        switch (name)
        {
            case "permit" or "ok":
                return new Permit();
            case "reject":
                return new Refuse(name, 554, "5.7.1", "Access denied");
            case "defer":
                return new Refuse(name, 450, "4.3.2", "Try again later");
            case "warn_if_reject" or "defer_if_reject" or "defer_if_permit":
                return new Modifier(name);
            case "reject_unauth_pipelining":
                return new RejectUnauthPipelining();
            case "permit_mynetworks":
                return new PermitMynetworks();
            case "permit_sasl_authenticated":
                return new PermitSaslAuthenticated();
            case "reject_unauth_destination" or "permit_auth_destination":
                return new RejectUnauthDestination(permit: name == "permit_auth_destination");
            case "reject_unlisted_recipient" or "reject_unverified_recipient":
                return new RejectUnlistedRecipient();
            case "reject_unlisted_sender":
                return new RejectUnlistedSender();
            case "reject_non_fqdn_recipient":
                return new RejectNonFqdnRecipient();
            case "reject_non_fqdn_sender":
                return new RejectNonFqdnSender();
            case "reject_non_fqdn_helo_hostname" or "reject_non_fqdn_hostname":
                return new RejectNonFqdnHeloHostname();
            case "reject_invalid_helo_hostname" or "reject_invalid_hostname":
                return new RejectInvalidHeloHostname();
            case "check_client_access":
                var clientAccess = new CheckAccess(SmtpStage.Client, Table(Argument()), _actions);
                NeedsClientName |= clientAccess.NeedsClientName;
                return clientAccess;
            case "reject_rbl_client" or "permit_dnswl_client":
                var rbl = new RejectRblClient(Argument(), permit: name == "permit_dnswl_client");
                _zones.Add(rbl.Zone);
                return rbl;
            case "reject_dnsbl_score":
                if (_scoredLists.Count == 0)
                    throw new FormatException("reject_dnsbl_score needs the lists of engine.smtp.dnsbl.sites");
                _zones.UnionWith(_scoredLists.Select(l => l.Zone));
                return new RejectDnsblScore(_scoredLists, _threshold);
            case "reject_rhsbl_client" or "reject_rhsbl_reverse_client":
                NeedsClientName = true;
                return new RejectRhsbl(name == "reject_rhsbl_client" ? RhsblSubject.Client : RhsblSubject.ReverseClient, Argument());
            case "reject_rhsbl_helo":
                return new RejectRhsbl(RhsblSubject.Helo, Argument());
            case "reject_rhsbl_sender":
                return new RejectRhsbl(RhsblSubject.Sender, Argument());
            case "reject_rhsbl_recipient":
                return new RejectRhsbl(RhsblSubject.Recipient, Argument());
            case "reject_unknown_client_hostname" or "reject_unknown_client" or "reject_unknown_reverse_client_hostname":
                NeedsClientName = true;
                return new RejectUnknownClientHostname(reverseOnly: name == "reject_unknown_reverse_client_hostname");
            case "reject_unknown_helo_hostname" or "reject_unknown_hostname":
                return new RejectUnknownHeloHostname();
            case "check_policy_service":
                var spec = Argument();
                if (!_policies.TryGetValue(spec, out var policy))
                    _policies[spec] = policy = PolicyClient.Open(spec, PolicyTimeout);
                NeedsClientName = true; // policy servers get client_name (Postgrey's allow-list goes by it)
                return new CheckPolicyService(policy, _actions);
            case "check_greylist":
                var greylisting = _greylist?.Invoke() ?? throw new FormatException("check_greylist needs the greylist (engine.greylist)");
                NeedsClientName |= greylisting.NeedsClientName;
                return greylisting;
            case "reject_unknown_sender_domain":
                return new RejectUnknownDomain(sender: true);
            case "reject_unknown_recipient_domain":
                return new RejectUnknownDomain(sender: false);
            case "check_helo_access":
                return new CheckAccess(SmtpStage.Helo, Table(Argument()), _actions);
            case "check_sender_access":
                return new CheckAccess(SmtpStage.Sender, Table(Argument()), _actions);
            case "check_recipient_access":
                return new CheckAccess(SmtpStage.Recipient, Table(Argument()), _actions);
        }
        if (_classes.TryGetValue(name, out var entries))
            return Class(name, entries);
        throw new FormatException($"unknown restriction '{word}'");
    }

    /// <summary>A restriction class, made once; a class that names itself, directly or not, is an error.</summary>
    private RestrictionList Class(string name, IReadOnlyList<string> entries)
    {
        if (_madeClasses.TryGetValue(name, out var made))
            return made;
        if (!_making.Add(name))
            throw new FormatException($"the restriction class '{name}' contains itself");
        var words = new Queue<string>(entries.SelectMany(e => e.Split([' ', '\t', ','], StringSplitOptions.RemoveEmptyEntries)));
        var items = new List<IRestriction>();
        while (words.Count > 0)
            items.Add(Create(words.Dequeue(), words));
        _making.Remove(name);
        return _madeClasses[name] = new RestrictionList(name, items);
    }

    private AccessTable Table(string spec)
    {
        if (!_tables.TryGetValue(spec, out var table))
        {
            try
            {
                _tables[spec] = table = AccessTable.Open(spec);
            }
            catch (IOException e)
            {
                throw new FormatException($"{spec}: {e.Message}");
            }
        }
        return table;
    }
}
