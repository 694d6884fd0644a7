using Engine.Primitives;

namespace Engine.Messages;

/// <summary>
/// What the SMTP server learned about a message, kept with it in the queue and used later for delivery,
/// bounces (DSN, RFC 3461) and the maillog. Addresses are kept as text in their envelope form.
/// <see cref="Filter"/> is the next hop of a FILTER action (Postfix's access(5) "FILTER transport:destination"):
/// every recipient of the message goes there instead of its own route.
/// </summary>
public sealed record Envelope(
    string Sender,
    IReadOnlyList<EnvelopeRecipient> Recipients,
    BodyType Body,
    bool SmtpUtf8,
    DsnReturn Ret,
    string? EnvId,
    ClientInfo Client,
    DateTimeOffset ArrivedAt,
    long Size,
    string? Filter = null);

/// <summary>One recipient with its DSN parameters (RFC 3461 sections 4.1 and 4.2).</summary>
public sealed record EnvelopeRecipient(string Address, DsnNotify Notify, string? OrcptType = null, string? Orcpt = null);

/// <summary>Who sent the message: address, reverse name, HELO name and protocol (ESMTP, ESMTPS, UTF8SMTP, ...).</summary>
public sealed record ClientInfo(string Address, string Name, string Helo, string Protocol);
