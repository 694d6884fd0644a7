using System.Net;

namespace Engine.Filtering;

/// <summary>Host name syntax as restrictions judge it (RFC 1123 section 2.1 labels; RFC 5321 section 4.1.3 address literals).</summary>
public static class HostNames
{
    public static bool IsAddressLiteral(string name) =>
        name.Length > 2 && name[0] == '[' && name[^1] == ']'
        && (IPAddress.TryParse(name.StartsWith("[IPv6:", StringComparison.OrdinalIgnoreCase) ? name[6..^1] : name[1..^1], out _));

    /// <summary>Letters, digits and hyphens in dot-separated labels of 1 to 63 characters, no label starting or ending with a hyphen, at most 255 in all; a final dot is allowed.</summary>
    public static bool IsValidHost(string name)
    {
        var trimmed = name.EndsWith('.') ? name[..^1] : name;
        if (trimmed.Length is 0 or > 255)
            return false;
        foreach (var label in trimmed.Split('.'))
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-')
                return false;
            foreach (var c in label)
            {
                if (!char.IsAsciiLetterOrDigit(c) && c != '-' && c != '_')
                    return false;
            }
        }
        // All digits in the last label is an address written without brackets, not a name.
        return !trimmed.Split('.')[^1].All(char.IsAsciiDigit);
    }

    public static bool IsValidHostOrLiteral(string name) => IsAddressLiteral(name) || IsValidHost(name);

    /// <summary>A name with a dot inside it (Postfix's "fully-qualified").</summary>
    public static bool IsFullyQualified(string name) => name.TrimEnd('.').Contains('.');
}
