using System.Net;
using Engine.Filtering.Dns;
using Engine.Primitives;
using Engine.Storage.Accounts;

namespace Engine.Filtering.Restrictions;

/// <summary>What the node knows of itself that restrictions ask: its networks, its domains, its directory.</summary>
/// <param name="LocalRecipients">
/// The local parts that exist in a mydestination domain the directory does not hold (Postfix's local_recipient_maps;
/// engine.smtp.local-recipients); null when any does (Postfix's empty local_recipient_maps).
/// </param>
public sealed record Site(string Hostname, Func<IPAddress, bool> IsMyNetwork, Func<string, bool> IsMyDestination, IRecipientDirectory Directory,
    DnsLookup? Dns = null, IReadOnlySet<string>? LocalRecipients = null)
{
    /// <summary>The resolver, for checks that cannot work without one (the factory refuses them when there is none).</summary>
    public DnsLookup Resolver => Dns ?? throw new InvalidOperationException("no DNS resolver configured");

    /// <summary>Whether mail to <paramref name="domain"/> ends here or is relayed by this node for the domain (a destination it may accept from anyone).</summary>
    public bool IsAuthorizedDestination(string domain)
    {
        var directory = Directory.Current;
        return IsMyDestination(domain) || directory.IsLocalDomain(domain) || directory.IsRelayDomain(domain);
    }
}

/// <summary>One evaluation of a restriction: the facts, the stage whose list is running, the site.</summary>
public sealed record RestrictionCall(SmtpFacts Facts, SmtpStage Stage, Site Site, Evaluation State, CancellationToken Cancel = default)
{
    /// <summary>The client's names, from the connection's lookups (or asked now when there are none).</summary>
    public Task<ClientName> ClientNameAsync() =>
        (Facts.Lookups ?? new ClientLookups(Facts.ClientAddress, Site.Resolver, [], name: false)).NameAsync();

    /// <summary>Who a reply of the running stage names, and how: ("unknown[192.0.2.7]", "Client host"), (recipient, "Recipient address"), ...</summary>
    public (string Key, string What) Subject => Stage switch
    {
        SmtpStage.Client => (Facts.Client, "Client host"),
        SmtpStage.Helo => (Facts.Helo ?? "", "Helo command"),
        SmtpStage.Sender => (Facts.Sender?.ToString() ?? "", "Sender address"),
        SmtpStage.Recipient => (Facts.Recipient?.ToString() ?? "", "Recipient address"),
        SmtpStage.Data => ("DATA", "Data command"),
        _ => ("END-OF-MESSAGE", "End-of-data"),
    };

    /// <summary>The reply a plain reject of the running stage gives: "&lt;key&gt;: Class rejected: text" (Postfix's reply_name and reply_class).</summary>
    public SmtpReply Rejected(int code, string enhanced, string text) => Replies.Rejected(code, enhanced, Subject.Key, Subject.What, text);
}

/// <summary>
/// One check of a restriction list (Postfix's smtpd_*_restrictions): it answers DUNNO, PERMIT or a
/// rejection (see <see cref="Verdict"/>). One small class per check; the asynchronous ones (DNS, greylist,
/// policy servers) complete later, the rest at once.
/// </summary>
public interface IRestriction
{
    /// <summary>As configured ("check_client_access cidr:/etc/engine/clients"), for the log.</summary>
    string Name { get; }

    ValueTask<Verdict> CheckAsync(RestrictionCall call);
}

/// <summary>A restriction or table value that cannot work as configured: the client gets 451 4.3.5, the log the reason.</summary>
public sealed class RestrictionConfigurationException(string message) : Exception(message);

public static class Replies
{
    public static SmtpReply Rejected(int code, string enhanced, string key, string what, string text) =>
        new(code, enhanced, $"<{key}>: {what} rejected: {text}");
}

/// <summary>
/// What one evaluation (all the lists of one command) carries from restriction to restriction: the modifiers
/// warn_if_reject, defer_if_reject and defer_if_permit, the effects asked for, the warnings to log.
/// </summary>
public sealed class Evaluation
{
    /// <summary>warn_if_reject came just before: the next rejection is only logged.</summary>
    public bool WarnNext { get; set; }

    /// <summary>defer_if_reject came before in this list: a later 5xx is answered with this 450 instead (the first one asked for).</summary>
    public SmtpReply? DeferIfReject { get; set; }

    /// <summary>A new list begins: warn_if_reject and defer_if_reject reach no further than their own list, as in Postfix.</summary>
    public void StartList()
    {
        WarnNext = false;
        DeferIfReject = null;
    }

    /// <summary>defer_if_permit came before: unless something rejects, the command gets this reply.</summary>
    public SmtpReply? DeferIfPermit { get; set; }

    public List<TransactionEffect> Effects { get; } = [];

    /// <summary>Rejections turned into warnings by warn_if_reject, as "reject_warning" log lines say them.</summary>
    public List<SmtpReply> Warnings { get; } = [];
}
