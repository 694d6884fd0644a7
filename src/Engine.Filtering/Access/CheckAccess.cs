using System.Net;
using Engine.Filtering.Restrictions;

namespace Engine.Filtering.Access;

/// <summary>
/// check_client_access, check_helo_access, check_sender_access, check_recipient_access: look the client, the
/// HELO name, the sender or the recipient up in a table and do what the value says (<see cref="AccessAction"/>).
/// The keys are tried as Postfix's access(5) tries them, the first one found decides: for an exact table the
/// whole name then its parent domains (and for a client its address, then the address's leading octets;
/// for an address "user@domain", the domain and its parents, then "user@"); a cidr or regexp table gets
/// each value whole (the client's name, then its address).
/// </summary>
public sealed class CheckAccess(SmtpStage subject, AccessTable table, AccessAction actions) : IRestriction
{
    public string Name => $"check_{subject.ToString().ToLowerInvariant()}_access {table.Spec}";

    /// <summary>Whether lookups need the client's name (an exact or regexp table of check_client_access).</summary>
    public bool NeedsClientName => subject == SmtpStage.Client && table is not CidrTable;

    public ValueTask<Verdict> CheckAsync(RestrictionCall call)
    {
        if (NeedsClientName && call.Facts.Lookups is { } lookups && lookups.NameAsync() is { IsCompleted: false } naming)
            return AfterNameAsync(naming, call);
        return Check(call, call.Facts.ClientName);
    }

    private async ValueTask<Verdict> AfterNameAsync(Task<Engine.Filtering.Dns.ClientName> naming, RestrictionCall call)
    {
        await naming.ConfigureAwait(false);
        return await Check(call, call.Facts.ClientName).ConfigureAwait(false);
    }

    private ValueTask<Verdict> Check(RestrictionCall call, string clientName)
    {
        var facts = call.Facts;
        var (reply, what, keys) = subject switch
        {
            SmtpStage.Client => ($"{clientName}[{facts.ClientAddress}]", "Client host", ClientKeys(clientName, facts.ClientAddress)),
            SmtpStage.Helo => (facts.Helo ?? "", "Helo command", facts.Helo is { } helo ? DomainKeys(helo) : []),
            SmtpStage.Sender => (facts.Sender?.ToString() ?? "", "Sender address",
                facts.Sender is { } sender ? sender.IsNull ? ["<>"] : AddressKeys(sender.LocalPart, sender.Domain) : []),
            _ => (facts.Recipient?.ToString() ?? "", "Recipient address",
                facts.Recipient is { } to ? AddressKeys(to.LocalPart, to.Domain) : []),
        };
        foreach (var key in keys)
        {
            if (table.Find(key) is { } value)
                return actions.ApplyAsync(value, call, reply, what);
        }
        return new(Verdict.Dunno);
    }

    private IEnumerable<string> ClientKeys(string name, IPAddress address)
    {
        if (name != "unknown")
        {
            foreach (var key in DomainKeys(name))
                yield return key;
        }
        var text = address.IsIPv4MappedToIPv6 ? address.MapToIPv4().ToString() : address.ToString();
        yield return text;
        if (!table.IsFixed)
            yield break;
        var separator = text.Contains(':') ? ':' : '.';
        for (var end = text.LastIndexOf(separator); end > 0; end = text.LastIndexOf(separator, end - 1))
            yield return text[..end].TrimEnd(':');
    }

    private IEnumerable<string> DomainKeys(string domain)
    {
        yield return domain;
        if (!table.IsFixed)
            yield break;
        for (var dot = domain.IndexOf('.'); dot >= 0 && dot < domain.Length - 1; dot = domain.IndexOf('.', dot + 1))
            yield return domain[(dot + 1)..];
    }

    private IEnumerable<string> AddressKeys(string local, string domain)
    {
        var whole = domain.Length == 0 ? local : $"{local}@{domain}";
        yield return whole;
        if (!table.IsFixed)
            yield break;
        if (domain.Length > 0)
        {
            foreach (var key in DomainKeys(domain))
                yield return key;
        }
        yield return local + "@";
    }
}
