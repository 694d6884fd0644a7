using System.Net;

namespace Engine.Filtering.Dns;

/// <summary>
/// Which answers of a DNS list count (Postfix's "zone=127.0.0.2", "zone=127.0.0.[2..11]",
/// "zone=127.0.[0..255].[2;4;6..8]"): per octet a number, a range, or a list of either. No filter: any answer
/// in 127.0.0.0/8 counts (an answer elsewhere is a list's error message, not a listing).
/// </summary>
public sealed class ListFilter
{
    private readonly (int Low, int High)[][]? _octets;

    private ListFilter((int, int)[][]? octets) => _octets = octets;

    public static readonly ListFilter Any = new(null);

    /// <summary>"zone[=filter]" split into the zone and its filter.</summary>
    public static (string Zone, ListFilter Filter) ParseSite(string site)
    {
        var equals = site.IndexOf('=');
        var zone = (equals < 0 ? site : site[..equals]).Trim('.').ToLowerInvariant();
        if (zone.Length == 0 || !HostNames.IsValidHost(zone + ".x"))
            throw new FormatException($"'{site}': not a DNS list zone");
        return (zone, equals < 0 ? Any : Parse(site[(equals + 1)..]));
    }

    public static ListFilter Parse(string text)
    {
        var parts = Octets(text);
        if (parts.Count != 4)
            throw new FormatException($"'{text}': a list filter has four octets");
        return new ListFilter(parts.Select(Octet).ToArray());

        (int, int)[] Octet(string part)
        {
            var inner = part.StartsWith('[') && part.EndsWith(']') ? part[1..^1] : part;
            return inner.Split(';').Select(item =>
            {
                var range = item.Split("..");
                if (range.Length is 1 or 2 && range.All(r => int.TryParse(r, out var v) && v is >= 0 and <= 255))
                    return (int.Parse(range[0]), int.Parse(range[^1]));
                throw new FormatException($"'{text}': '{item}' is not an octet or a range");
            }).ToArray();
        }
    }

    /// <summary>The text split at the dots that are not inside brackets ("127.0.0.[2..11]": four parts).</summary>
    private static List<string> Octets(string text)
    {
        var parts = new List<string>();
        var start = 0;
        var depth = 0;
        for (var i = 0; i < text.Length; i++)
        {
            depth += text[i] == '[' ? 1 : text[i] == ']' ? -1 : 0;
            if (text[i] == '.' && depth == 0)
            {
                parts.Add(text[start..i]);
                start = i + 1;
            }
        }
        parts.Add(text[start..]);
        return parts;
    }

    public bool Matches(IPAddress answer)
    {
        var bytes = answer.GetAddressBytes();
        if (bytes.Length != 4)
            return false;
        if (_octets is null)
            return bytes[0] == 127;
        for (var i = 0; i < 4; i++)
        {
            if (!_octets[i].Any(r => bytes[i] >= r.Low && bytes[i] <= r.High))
                return false;
        }
        return true;
    }
}
