using System.Net;
using System.Net.Sockets;
using System.Text;
using Engine.Primitives;

namespace Engine.Protocols.Smtp;

/// <summary>
/// Envelope paths of RFC 5321 section 4.1.2, with the UTF-8 extensions of RFC 6531 section 3.3.
/// <code>
/// Path       = "&lt;" [ A-d-l ":" ] Mailbox "&gt;"
/// Mailbox    = Local-part "@" ( Domain / address-literal )
/// Local-part = Dot-string / Quoted-string
/// </code>
/// A source route (A-d-l) is accepted and ignored, as section 4.1.1.3 asks.
/// </summary>
public static class AddressParser
{
    /// <summary>Parses "&lt;local@domain&gt;"; null when the path is not valid.</summary>
    public static EmailAddress? ParsePath(string path, bool allowBarePostmaster = false)
    {
        if (path.Length < 3 || path[0] != '<' || path[^1] != '>')
            return null;
        var inner = path[1..^1];
        if (allowBarePostmaster && inner.Equals("postmaster", StringComparison.OrdinalIgnoreCase))
            return new EmailAddress(inner, "");
        if (inner.StartsWith('@'))
        {
            var colon = inner.IndexOf(':');
            if (colon < 0 || !inner[..colon].Split(',').All(a => a.Length > 1 && a[0] == '@' && IsDomain(a[1..])))
                return null;
            inner = inner[(colon + 1)..];
        }
        return ParseMailbox(inner);
    }

    /// <summary><c>Mailbox = Local-part "@" ( Domain / address-literal )</c>.</summary>
    public static EmailAddress? ParseMailbox(string mailbox)
    {
        var at = mailbox.LastIndexOf('@');
        if (at <= 0 || at == mailbox.Length - 1)
            return null;
        var local = mailbox[..at];
        var domain = mailbox[(at + 1)..];
        if (Encoding.UTF8.GetByteCount(local) > 64 || Encoding.UTF8.GetByteCount(domain) > 255)
            return null;
        if (!IsDotString(local) && !IsQuotedString(local))
            return null;
        if (!IsDomain(domain) && !IsAddressLiteral(domain))
            return null;
        return new EmailAddress(local, domain);
    }

    /// <summary><c>atext</c> of RFC 5322 section 3.2.3, plus UTF8-non-ascii (RFC 6531).</summary>
    private static bool IsAtext(char c) =>
        char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-/=?^_`{|}~".Contains(c) || (c > 127 && !char.IsControl(c) && !char.IsWhiteSpace(c));

    private static bool IsDotString(string s) =>
        s.Length > 0 && s.Split('.').All(atom => atom.Length > 0 && atom.All(IsAtext));

    /// <summary><c>Quoted-string = DQUOTE *QcontentSMTP DQUOTE</c>.</summary>
    private static bool IsQuotedString(string s)
    {
        if (s.Length < 2 || s[0] != '"' || s[^1] != '"')
            return false;
        for (var i = 1; i < s.Length - 1; i++)
        {
            var c = s[i];
            if (c == '\\')
            {
                // quoted-pairSMTP = %d92 %d32-126
                if (i + 1 >= s.Length - 1 || s[i + 1] < 32 || s[i + 1] > 126)
                    return false;
                i++;
            }
            else if (c == '"' || (c < 32) || c == 127)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary><c>Domain = sub-domain *("." sub-domain)</c>; <c>sub-domain = Let-dig [Ldh-str]</c>, or a U-label.</summary>
    public static bool IsDomain(string s)
    {
        if (s.Length == 0 || s.Length > 255)
            return false;
        foreach (var label in s.Split('.'))
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-')
                return false;
            if (!label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-' || (c > 127 && char.IsLetterOrDigit(c))))
                return false;
        }
        return true;
    }

    /// <summary><c>address-literal = "[" ( IPv4-address-literal / IPv6-address-literal ) "]"</c>.</summary>
    private static bool IsAddressLiteral(string s)
    {
        if (s.Length < 3 || s[0] != '[' || s[^1] != ']')
            return false;
        var inner = s[1..^1];
        if (inner.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase))
            return IPAddress.TryParse(inner[5..], out var v6) && v6.AddressFamily == AddressFamily.InterNetworkV6;
        return inner.Split('.').Length == 4 && IPAddress.TryParse(inner, out var v4) && v4.AddressFamily == AddressFamily.InterNetwork;
    }
}
