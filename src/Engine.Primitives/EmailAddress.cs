using System.Text;

namespace Engine.Primitives;

/// <summary>
/// An envelope address (RFC 5321 section 4.1.2 <c>Mailbox</c>): a local part and a domain, or the null
/// reverse-path <c>&lt;&gt;</c>. The local part is kept as sent (case matters to the receiving system,
/// section 2.4); the domain is compared without case.
/// </summary>
public sealed record EmailAddress
{
    public static readonly EmailAddress Null = new("", "");

    public string LocalPart { get; }
    public string Domain { get; }

    public EmailAddress(string localPart, string domain)
    {
        LocalPart = localPart;
        Domain = domain.ToLowerInvariant();
    }

    public bool IsNull => LocalPart.Length == 0 && Domain.Length == 0;

    /// <summary>True when the address needs SMTPUTF8 (RFC 6531) to be carried.</summary>
    public bool IsInternational => !Ascii.IsValid(LocalPart) || !Ascii.IsValid(Domain);

    public override string ToString() => IsNull ? "" : Domain.Length == 0 ? LocalPart : $"{LocalPart}@{Domain}";

    /// <summary>The address between angle brackets, as in the envelope and the maillog.</summary>
    public string ToBracketed() => $"<{this}>";
}
