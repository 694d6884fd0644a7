using System.Text;

namespace Engine.Protocols.Imap;

/// <summary>One argument of an IMAP command (RFC 9051 section 4): atom, string (quoted or literal), list or NIL.</summary>
public abstract record ImapToken
{
    /// <summary>An atom, with any "[...]" section and "&lt;...&gt;" partial that follows it (BODY[HEADER.FIELDS (TO)]&lt;0.10&gt;).</summary>
    public sealed record Atom(string Value) : ImapToken
    {
        public override string ToString() => Value;
    }

    /// <summary>A quoted string, unescaped.</summary>
    public sealed record Quoted(string Value) : ImapToken
    {
        public override string ToString() => $"\"{Value}\"";
    }

    /// <summary>A literal's octets ({n}, {n+}, or ~{n} for literal8).</summary>
    public sealed record Literal(byte[] Octets, bool Binary) : ImapToken
    {
        public override string ToString() => $"{{{Octets.Length}}}";
    }

    /// <summary>A parenthesized list.</summary>
    public sealed record List(IReadOnlyList<ImapToken> Items) : ImapToken
    {
        public override string ToString() => $"({string.Join(' ', Items)})";
    }

    /// <summary>NIL.</summary>
    public sealed record Nil : ImapToken
    {
        public static readonly Nil Instance = new();

        public override string ToString() => "NIL";
    }

    /// <summary>The text of an atom or string (a literal as UTF-8), else null.</summary>
    public string? Text => this switch
    {
        Atom a => a.Value,
        Quoted q => q.Value,
        Literal l => Encoding.UTF8.GetString(l.Octets),
        _ => null,
    };
}

/// <summary>A complete command: its tag, its name in upper case, and its arguments.</summary>
public sealed record ImapCommand(string Tag, string Name, IReadOnlyList<ImapToken> Args)
{
    public override string ToString() => $"{Tag} {Name} {string.Join(' ', Args)}".TrimEnd();
}
