using System.Net;
using System.Text.RegularExpressions;
using Engine.Primitives;

namespace Engine.Filtering.Greylist;

/// <summary>
/// Who is never greylisted, in the format of Postgrey's whitelist files. Clients: a host or domain name (the
/// client's verified name, or one ending in ".domain"), an address or network (CIDR), or /regexp/ on the
/// name. Recipients: "user@domain", "user@" (at any domain), a domain (and its subdomains), or /regexp/ on the
/// address. Lines starting with # are comments.
/// </summary>
public sealed class GreylistAllowList
{
    private static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(100);
    private readonly List<string> _names = [];
    private readonly List<IpNetwork> _networks = [];
    private readonly List<Regex> _patterns = [];

    public static readonly GreylistAllowList Empty = new();

    /// <summary>Whether some entry is a name or pattern (so the client's name must be looked up).</summary>
    public bool HasNames => _names.Count + _patterns.Count > 0;

    public static GreylistAllowList Parse(IEnumerable<string> lines, string source)
    {
        var list = new GreylistAllowList();
        var number = 0;
        foreach (var raw in lines)
        {
            number++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
                continue;
            if (line.Length > 2 && line[0] == '/' && line[^1] == '/')
            {
                try
                {
                    list._patterns.Add(new Regex(line[1..^1], RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, MatchTimeout));
                }
                catch (ArgumentException e)
                {
                    throw new FormatException($"{source} line {number}: {e.Message}");
                }
            }
            else if (IPAddress.TryParse(line, out var address))
                list._networks.Add(new IpNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128));
            else if (line.Contains('/'))
            {
                try
                {
                    list._networks.Add(IpNetwork.Parse(line));
                }
                catch (FormatException)
                {
                    throw new FormatException($"{source} line {number}: '{line}' is not a network");
                }
            }
            else
                list._names.Add(line.ToLowerInvariant());
        }
        return list;
    }

    /// <summary>A client: by address, or by its verified name ("unknown" matches no name).</summary>
    public bool AllowsClient(IPAddress address, string name)
    {
        if (_networks.Any(n => n.Contains(address)))
            return true;
        return name != "unknown" && (_names.Any(n => EndsWithDomain(name, n)) || Matches(name));
    }

    public bool AllowsRecipient(EmailAddress recipient)
    {
        var address = recipient.ToString().ToLowerInvariant();
        var local = recipient.LocalPart.ToLowerInvariant() + "@";
        return _names.Any(n => n == address || n == local || (!n.Contains('@') && EndsWithDomain(recipient.Domain.ToLowerInvariant(), n))) || Matches(address);
    }

    private static bool EndsWithDomain(string name, string domain) =>
        name == domain || name.EndsWith("." + domain, StringComparison.OrdinalIgnoreCase);

    private bool Matches(string text)
    {
        foreach (var pattern in _patterns)
        {
            try
            {
                if (pattern.IsMatch(text))
                    return true;
            }
            catch (RegexMatchTimeoutException)
            {
                // too slow for this text: no match
            }
        }
        return false;
    }
}
