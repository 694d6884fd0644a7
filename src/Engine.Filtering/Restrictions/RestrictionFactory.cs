using Engine.Filtering.Access;
using Engine.Filtering.Restrictions.Any;
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

    public RestrictionFactory(IReadOnlyDictionary<string, IReadOnlyList<string>>? classes = null)
    {
        _classes = classes ?? new Dictionary<string, IReadOnlyList<string>>();
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
                return new Refuse(name, 554, "5.7.1");
            case "defer":
                return new Refuse(name, 450, "4.7.1");
            case "warn_if_reject" or "defer_if_reject" or "defer_if_permit":
                return new Modifier(name);
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
                return new CheckAccess(SmtpStage.Client, Table(Argument()), _actions);
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
