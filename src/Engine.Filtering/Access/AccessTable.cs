using System.Net;
using System.Text.RegularExpressions;
using Engine.Primitives;

namespace Engine.Filtering.Access;

/// <summary>
/// A lookup table of an access restriction, named as Postfix names it: "type:path". Types: exact (also
/// "hash" and "texthash", read from the text file itself: no postmap), cidr, regexp (also "pcre"; .NET
/// regular expressions with a time limit), sqlite (a query in an SQLite database, configured as Postfix's
/// sqlite_table(5)). The file is read again when it changes, at most once per
/// <see cref="ReloadCheck"/>, so an edit needs no restart; a file that no longer parses keeps the old table
/// (and <see cref="Error"/> says why).
/// </summary>
public abstract class AccessTable
{
    public static readonly TimeSpan ReloadCheck = TimeSpan.FromSeconds(1);
    private readonly string _path;
    private DateTime _checkedAt;
    private DateTime _writtenAt;
    private readonly Lock _lock = new();

    protected AccessTable(string spec, string path)
    {
        Spec = spec;
        _path = path;
        Reload(force: true);
    }

    public string Spec { get; }

    /// <summary>Whether the table matches keys as they are (exact): then lookups also try parent domains, subnets and "user@".</summary>
    public abstract bool IsFixed { get; }

    /// <summary>Why the last reload failed, or null.</summary>
    public string? Error { get; protected set; }

    public static AccessTable Open(string spec)
    {
        var colon = spec.IndexOf(':');
        if (colon <= 0)
            throw new FormatException($"'{spec}' is not type:path");
        var path = spec[(colon + 1)..];
        return spec[..colon].ToLowerInvariant() switch
        {
            "exact" or "hash" or "texthash" or "btree" or "lmdb" => new ExactTable(spec, path),
            "cidr" => new CidrTable(spec, path),
            "regexp" or "pcre" => new RegexpTable(spec, path),
            "sqlite" => new SqliteTable(spec, path),
            var type => throw new FormatException($"'{spec}': unknown table type '{type}' (exact, cidr, regexp, sqlite)"),
        };
    }

    /// <summary>The value for <paramref name="key"/>, or null when nothing matches.</summary>
    public string? Find(string key)
    {
        Reload(force: false);
        return Lookup(key);
    }

    protected abstract string? Lookup(string key);

    /// <summary>Replaces the table with what <paramref name="lines"/> say; throws FormatException with the line at fault.</summary>
    protected abstract void Load(IReadOnlyList<(int Number, string Text)> lines);

    private void Reload(bool force)
    {
        var now = DateTime.UtcNow;
        if (!force && now - _checkedAt < ReloadCheck)
            return;
        lock (_lock)
        {
            if (!force && now - _checkedAt < ReloadCheck)
                return;
            _checkedAt = now;
            var written = File.GetLastWriteTimeUtc(_path);
            if (!force && written == _writtenAt)
                return;
            try
            {
                Load(Logical(File.ReadAllLines(_path)));
                _writtenAt = written;
                Error = null;
            }
            catch (Exception e) when (!force && e is IOException or FormatException or UnauthorizedAccessException)
            {
                Error = $"{Spec}: {e.Message}";
            }
        }
    }

    /// <summary>Lines without comments and blank lines; a line starting with white space continues the one before (as Postfix reads tables).</summary>
    private static List<(int, string)> Logical(string[] raw)
    {
        var lines = new List<(int Number, string Text)>();
        for (var i = 0; i < raw.Length; i++)
        {
            var line = raw[i];
            if (line.TrimStart().StartsWith('#') || line.Trim().Length == 0)
                continue;
            if (char.IsWhiteSpace(line[0]) && lines.Count > 0)
                lines[^1] = (lines[^1].Number, lines[^1].Text + " " + line.Trim());
            else
                lines.Add((i + 1, line.Trim()));
        }
        return lines;
    }

    protected static (string Key, string Value) Split(int number, string line)
    {
        var space = line.IndexOfAny([' ', '\t']);
        if (space < 0)
            throw new FormatException($"line {number}: a key without a value");
        return (line[..space], line[(space + 1)..].Trim());
    }
}

/// <summary>"key value" lines; keys compared without case.</summary>
internal sealed class ExactTable(string spec, string path) : AccessTable(spec, path)
{
    private volatile Dictionary<string, string> _entries = [];

    public override bool IsFixed => true;

    protected override string? Lookup(string key) => _entries.GetValueOrDefault(key);

    protected override void Load(IReadOnlyList<(int Number, string Text)> lines)
    {
        var entries = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (number, text) in lines)
        {
            var (key, value) = Split(number, text);
            entries[key] = value;
        }
        _entries = entries;
    }
}

/// <summary>"network/prefix value" or "address value" lines (cidr_table(5)); the first that contains the client's address wins.</summary>
internal sealed class CidrTable(string spec, string path) : AccessTable(spec, path)
{
    private volatile (IpNetwork Network, string Value)[] _entries = [];

    public override bool IsFixed => false;

    protected override string? Lookup(string key)
    {
        if (!IPAddress.TryParse(key, out var address))
            return null;
        foreach (var (network, value) in _entries)
        {
            if (network.Contains(address))
                return value;
        }
        return null;
    }

    protected override void Load(IReadOnlyList<(int Number, string Text)> lines)
    {
        var entries = new List<(IpNetwork, string)>();
        foreach (var (number, text) in lines)
        {
            var (key, value) = Split(number, text);
            try
            {
                entries.Add((key.Contains('/') ? IpNetwork.Parse(key) : IpNetwork.Parse(key + (key.Contains(':') ? "/128" : "/32")), value));
            }
            catch (FormatException)
            {
                throw new FormatException($"line {number}: '{key}' is not an address or network");
            }
        }
        _entries = [.. entries];
    }
}

/// <summary>
/// regexp_table(5): "/pattern/flags value" (or "!/pattern/" for a non-match), tried in order, the first
/// match wins; $1..$9 in the value take the groups. Case is ignored unless the flag "i" turns that off;
/// "if /pattern/" ... "endif" blocks are only entered when the pattern matches.
/// </summary>
internal sealed class RegexpTable(string spec, string path) : AccessTable(spec, path)
{
    private static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(100);

    private sealed record Rule(Regex Pattern, bool Negated, string? Value, int EndIf);

    private volatile Rule[] _rules = [];

    public override bool IsFixed => false;

    protected override string? Lookup(string key)
    {
        var rules = _rules;
        for (var i = 0; i < rules.Length; i++)
        {
            var rule = rules[i];
            Match match;
            try
            {
                match = rule.Pattern.Match(key);
            }
            catch (RegexMatchTimeoutException)
            {
                continue; // a pattern too slow for this key does not match it
            }
            if (match.Success == rule.Negated)
            {
                if (rule.Value is null)
                    i = rule.EndIf; // an "if" not entered: skip to its endif
                continue;
            }
            if (rule.Value is not null)
                return rule.Negated ? rule.Value : Substitute(rule.Value, match);
        }
        return null;
    }

    private static string Substitute(string value, Match match) => value.Contains('$')
        ? Regex.Replace(value, @"\$(\d|\{\d\})", m => match.Groups[int.Parse(m.Value.Trim('$', '{', '}'))].Value, RegexOptions.None, MatchTimeout)
        : value;

    protected override void Load(IReadOnlyList<(int Number, string Text)> lines)
    {
        var rules = new List<Rule>();
        var open = new Stack<int>();
        foreach (var (number, text) in lines)
        {
            if (text.Equals("endif", StringComparison.OrdinalIgnoreCase))
            {
                if (open.Count == 0)
                    throw new FormatException($"line {number}: endif without if");
                var at = open.Pop();
                rules[at] = rules[at] with { EndIf = rules.Count - 1 };
                continue;
            }
            var isIf = text.StartsWith("if ", StringComparison.OrdinalIgnoreCase) || text.StartsWith("if\t", StringComparison.OrdinalIgnoreCase);
            var rest = isIf ? text[3..].TrimStart() : text;
            var negated = rest.StartsWith('!');
            if (negated)
                rest = rest[1..];
            var (pattern, value) = Parse(number, rest);
            if (isIf)
            {
                if (value.Length > 0)
                    throw new FormatException($"line {number}: text after an if pattern");
                open.Push(rules.Count);
                rules.Add(new Rule(pattern, negated, null, -1));
            }
            else
            {
                if (value.Length == 0)
                    throw new FormatException($"line {number}: a pattern without a value");
                rules.Add(new Rule(pattern, negated, value, -1));
            }
        }
        if (open.Count > 0)
            throw new FormatException("an if without endif");
        _rules = [.. rules];
    }

    /// <summary>"/pattern/flags value" with any delimiter (the first character).</summary>
    private static (Regex Pattern, string Value) Parse(int number, string text)
    {
        if (text.Length < 2)
            throw new FormatException($"line {number}: not /pattern/");
        var delimiter = text[0];
        var end = 1;
        while (end < text.Length && (text[end] != delimiter || text[end - 1] == '\\'))
            end++;
        if (end >= text.Length)
            throw new FormatException($"line {number}: no closing {delimiter}");
        var flagsEnd = end + 1;
        while (flagsEnd < text.Length && char.IsLetter(text[flagsEnd]))
            flagsEnd++;
        var options = RegexOptions.IgnoreCase | RegexOptions.CultureInvariant;
        foreach (var flag in text[(end + 1)..flagsEnd])
        {
            options = flag switch
            {
                'i' => options ^ RegexOptions.IgnoreCase,
                'm' => options ^ RegexOptions.Multiline,
                'x' => options ^ RegexOptions.IgnorePatternWhitespace,
                _ => throw new FormatException($"line {number}: unknown flag '{flag}'"),
            };
        }
        try
        {
            return (new Regex(text[1..end], options, MatchTimeout), text[flagsEnd..].Trim());
        }
        catch (ArgumentException e)
        {
            throw new FormatException($"line {number}: {e.Message}");
        }
    }
}

/// <summary>
/// sqlite_table(5): the file holds "dbpath = /var/lib/engine/access.db" and "query = SELECT action FROM access
/// WHERE key = '%s'"; %s is the key, %u its local part, %d its domain, each passed as a parameter (never
/// pasted into the SQL). The first column of the first row is the value. The database is opened read-only.
/// </summary>
internal sealed class SqliteTable(string spec, string path) : AccessTable(spec, path)
{
    private sealed record Settings(string Connection, string Query);

    private volatile Settings? _settings;

    public override bool IsFixed => true;

    protected override string? Lookup(string key)
    {
        if (_settings is not { } settings)
            return null;
        // As Postfix: a query that needs the local part or the domain is not asked for a key without an @.
        if (!key.Contains('@') && (settings.Query.Contains("$u", StringComparison.Ordinal) || settings.Query.Contains("$d", StringComparison.Ordinal)))
            return null;
        try
        {
            using var connection = new Microsoft.Data.Sqlite.SqliteConnection(settings.Connection);
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = settings.Query;
            var at = key.LastIndexOf('@');
            command.Parameters.AddWithValue("$s", key);
            command.Parameters.AddWithValue("$u", at < 0 ? key : key[..at]);
            command.Parameters.AddWithValue("$d", at < 0 ? "" : key[(at + 1)..]);
            return command.ExecuteScalar() switch
            {
                null or DBNull => null,
                var value => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture),
            };
        }
        catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or InvalidOperationException)
        {
            // A table that cannot be read defers the client, as Postfix's table lookup errors do; it is not the client's fault.
            Error = $"{Spec}: {e.Message}";
            return "451 4.3.5 Server configuration error";
        }
    }

    protected override void Load(IReadOnlyList<(int Number, string Text)> lines)
    {
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (number, text) in lines)
        {
            var equals = text.IndexOf('=');
            if (equals <= 0)
                throw new FormatException($"line {number}: not name = value");
            values[text[..equals].Trim()] = text[(equals + 1)..].Trim();
        }
        if (!values.TryGetValue("dbpath", out var database) || !values.TryGetValue("query", out var query))
            throw new FormatException("dbpath and query are both needed");
        // Postfix's '%s' (quoted or not) becomes a parameter: the key never becomes SQL.
        var sql = query.Replace("'%s'", "$s").Replace("'%u'", "$u").Replace("'%d'", "$d");
        if (sql.Contains('%'))
            throw new FormatException("query: %s, %u and %d must stand alone in quotes ('%s'), as a whole value: they become parameters");
        var connection = new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder
        {
            DataSource = database,
            Mode = Microsoft.Data.Sqlite.SqliteOpenMode.ReadOnly,
        }.ToString();
        _settings = new Settings(connection, sql);
    }
}
