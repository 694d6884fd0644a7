using System.Text;

namespace Engine.Protocols.Pop3;

/// <summary>The POP3 commands of RFC 1939, RFC 2449 (CAPA), RFC 2595 (STLS) and RFC 5034 (AUTH).</summary>
public enum Pop3Verb { User, Pass, Auth, Capa, Stat, List, Retr, Dele, Noop, Rset, Top, Uidl, Quit, Stls }

/// <summary>A parsed command line: the verb and its arguments (PASS keeps its argument whole, spaces and all).</summary>
public sealed record Pop3Command(Pop3Verb Verb, IReadOnlyList<string> Args)
{
    /// <summary>The argument at <paramref name="index"/>, or null.</summary>
    public string? Arg(int index) => index < Args.Count ? Args[index] : null;

    /// <summary>Never the password: what a log may show of the command.</summary>
    public string ForLog => Verb is Pop3Verb.Pass or Pop3Verb.Auth ? Verb.ToString().ToUpperInvariant() + " ***" : ToString();
}

/// <summary>
/// Parses one command line (without its CRLF). RFC 1939 section 3: a keyword of three or four characters,
/// case-insensitive, then arguments separated by single spaces, each at most 40 characters; RFC 2449
/// section 4 allows 255 octets for the whole line. PASS takes the rest of the line as the password, since
/// passwords may hold spaces (RFC 1939 section 7 notes the server may allow it).
/// </summary>
public static class Pop3Parser
{
    public const int MaxLine = 255;
    public const int MaxArgument = 40;

    public static bool TryParse(ReadOnlySpan<byte> line, out Pop3Command? command, out string error)
    {
        command = null;
        error = "";
        if (line.Length + 2 > MaxLine)
        {
            error = "line too long";
            return false;
        }
        foreach (var b in line)
        {
            if (b < 0x20 || b > 0x7E)
            {
                error = "bad character in command";
                return false;
            }
        }
        var text = Encoding.ASCII.GetString(line);
        var space = text.IndexOf(' ');
        var keyword = space < 0 ? text : text[..space];
        if (!Enum.TryParse<Pop3Verb>(keyword, ignoreCase: true, out var verb) || keyword.Length is < 3 or > 4 || int.TryParse(keyword, out _))
        {
            error = "unknown command";
            return false;
        }
        var rest = space < 0 ? "" : text[(space + 1)..];
        if (verb == Pop3Verb.Pass)
        {
            command = new Pop3Command(verb, rest.Length == 0 ? [] : [rest]);
            return true;
        }
        var args = rest.Length == 0 ? [] : rest.Split(' ');
        // RFC 5034: AUTH's initial response is bounded by the line only, not by RFC 1939's 40 characters.
        if (args.Select((a, i) => a.Length == 0 || (a.Length > MaxArgument && !(verb == Pop3Verb.Auth && i == 1))).Any(bad => bad))
        {
            error = "bad argument";
            return false;
        }
        command = new Pop3Command(verb, args);
        return true;
    }
}
