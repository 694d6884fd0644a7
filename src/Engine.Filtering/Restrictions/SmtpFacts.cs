using System.Net;
using Engine.Filtering.Dns;
using Engine.Primitives;

namespace Engine.Filtering.Restrictions;

/// <summary>The restriction lists, by the SMTP stage they belong to (Postfix's smtpd_*_restrictions).</summary>
public enum SmtpStage
{
    Client,
    Helo,
    Sender,
    Recipient,
    Data,
    EndOfData,
}

/// <summary>
/// What the server knows of a client and its transaction when a restriction list is evaluated: the facts
/// Postfix's smtpd_check reads. Fields not known yet (no HELO, no MAIL) are null.
/// </summary>
public sealed record SmtpFacts(IPAddress ClientAddress)
{
    /// <summary>The DNS questions about this client, started at connect; null when no restriction needs DNS.</summary>
    public ClientLookups? Lookups { get; init; }

    /// <summary>The client's name as far as known: its reverse name when that resolves back to the address, or "unknown".</summary>
    public string ClientName => KnownName ?? Lookups?.NameSoFar ?? "unknown";

    /// <summary>The client's name when another server looked it up (a policy request's client_name).</summary>
    public string? KnownName { get; init; }

    public string? Helo { get; init; }
    public EmailAddress? Sender { get; init; }
    public EmailAddress? Recipient { get; init; }

    /// <summary>The SASL login name of an authenticated client.</summary>
    public string? SaslUser { get; init; }

    /// <summary>What names the transaction to policy servers (Postfix's "instance"): the same for every recipient of a message.</summary>
    public string Instance { get; init; } = "";

    /// <summary>The client sent a command before the reply it had to wait for (reject_unauth_pipelining).</summary>
    public bool PipelinedEarly { get; init; }

    /// <summary>The size MAIL FROM declared, or 0.</summary>
    public long Size { get; init; }

    /// <summary>"SMTP", "ESMTP", ...: for the maillog and policy servers.</summary>
    public string Protocol { get; init; } = "ESMTP";

    /// <summary>The client as the maillog and access replies name it: "name[address]".</summary>
    public string Client => $"{ClientName}[{ClientAddress}]";
}
