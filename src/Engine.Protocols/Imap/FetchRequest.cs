using System.Globalization;

namespace Engine.Protocols.Imap;

/// <summary>
/// A body section (RFC 9051 section 6.4.5): a part path ("1.2", empty for the whole message) and what of it:
/// everything, HEADER, HEADER.FIELDS (...), HEADER.FIELDS.NOT (...), TEXT or MIME.
/// </summary>
public sealed record BodySection(IReadOnlyList<int> Part, string Spec, IReadOnlyList<string> Fields)
{
    public const int MaxDepth = 32;

    public static bool TryParse(string text, out BodySection section)
    {
        section = new BodySection([], "", []);
        var fields = Array.Empty<string>();
        var open = text.IndexOf('(', StringComparison.Ordinal);
        if (open >= 0)
        {
            if (!text.EndsWith(')'))
                return false;
            fields = text[(open + 1)..^1].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(f => f.Trim('"')).ToArray();
            text = text[..open].TrimEnd();
            if (fields.Length == 0)
                return false;
        }
        var parts = new List<int>();
        var items = text.Length == 0 ? [] : text.Split('.');
        var i = 0;
        for (; i < items.Length && items[i].Length > 0 && char.IsAsciiDigit(items[i][0]); i++)
        {
            if (!int.TryParse(items[i], NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n == 0 || parts.Count >= MaxDepth)
                return false;
            parts.Add(n);
        }
        var spec = string.Join('.', items.Skip(i)).ToUpperInvariant();
        var valid = spec switch
        {
            "" or "HEADER" or "TEXT" => fields.Length == 0,
            "MIME" => fields.Length == 0 && parts.Count > 0,
            "HEADER.FIELDS" or "HEADER.FIELDS.NOT" => fields.Length > 0,
            _ => false,
        };
        section = new BodySection(parts, spec, fields);
        return valid;
    }
}

/// <summary>One FETCH data item (RFC 9051 section 6.4.5), as parsed.</summary>
public abstract record FetchItem
{
    public sealed record Flags : FetchItem;

    public sealed record Uid : FetchItem;

    public sealed record InternalDate : FetchItem;

    public sealed record Size : FetchItem;

    public sealed record Envelope : FetchItem;

    public sealed record ModSeq : FetchItem;

    /// <summary>BODYSTRUCTURE (extensible) or BODY (without extension data).</summary>
    public sealed record Structure(bool Extensible) : FetchItem;

    /// <summary>
    /// BODY[...], BODY.PEEK[...], BINARY[...], BINARY.PEEK[...], RFC822, RFC822.HEADER, RFC822.TEXT: the octets of
    /// a section, from <paramref name="Start"/> for <paramref name="Length"/>. <paramref name="Name"/> is how the
    /// response names it ("BODY[HEADER]", "RFC822.TEXT"); a partial adds "&lt;start&gt;". Reading a section
    /// without PEEK sets \Seen.
    /// </summary>
    public sealed record Section(string Name, BodySection Body, bool Peek, long? Start, long? Length, bool Binary) : FetchItem;

    /// <summary>BINARY.SIZE[part].</summary>
    public sealed record BinarySize(string Name, BodySection Body) : FetchItem;
}

/// <summary>Parses the data items of FETCH: one item, a macro (ALL, FAST, FULL), or a parenthesized list.</summary>
public static class FetchRequest
{
    public static bool TryParse(ImapToken items, out IReadOnlyList<FetchItem> parsed, out string error)
    {
        var list = new List<FetchItem>();
        parsed = list;
        error = "";
        var names = items is ImapToken.List l ? l.Items : [items];
        if (names.Count == 0)
        {
            error = "Empty FETCH list";
            return false;
        }
        foreach (var token in names)
        {
            if (token is not ImapToken.Atom { Value: var name })
            {
                error = "Invalid FETCH item";
                return false;
            }
            var upper = name.ToUpperInvariant();
            switch (upper)
            {
                case "ALL" when names.Count == 1:
                    list.AddRange([new FetchItem.Flags(), new FetchItem.InternalDate(), new FetchItem.Size(), new FetchItem.Envelope()]);
                    continue;
                case "FAST" when names.Count == 1:
                    list.AddRange([new FetchItem.Flags(), new FetchItem.InternalDate(), new FetchItem.Size()]);
                    continue;
                case "FULL" when names.Count == 1:
                    list.AddRange([new FetchItem.Flags(), new FetchItem.InternalDate(), new FetchItem.Size(), new FetchItem.Envelope(),
                        new FetchItem.Structure(false)]);
                    continue;
                case "FLAGS":
                    list.Add(new FetchItem.Flags());
                    continue;
                case "UID":
                    list.Add(new FetchItem.Uid());
                    continue;
                case "INTERNALDATE":
                    list.Add(new FetchItem.InternalDate());
                    continue;
                case "RFC822.SIZE":
                    list.Add(new FetchItem.Size());
                    continue;
                case "ENVELOPE":
                    list.Add(new FetchItem.Envelope());
                    continue;
                case "MODSEQ":
                    list.Add(new FetchItem.ModSeq());
                    continue;
                case "BODYSTRUCTURE":
                    list.Add(new FetchItem.Structure(true));
                    continue;
                case "BODY":
                    list.Add(new FetchItem.Structure(false));
                    continue;
                case "RFC822":
                    list.Add(new FetchItem.Section("RFC822", new BodySection([], "", []), false, null, null, false));
                    continue;
                case "RFC822.HEADER":
                    list.Add(new FetchItem.Section("RFC822.HEADER", new BodySection([], "HEADER", []), true, null, null, false));
                    continue;
                case "RFC822.TEXT":
                    list.Add(new FetchItem.Section("RFC822.TEXT", new BodySection([], "TEXT", []), false, null, null, false));
                    continue;
            }
            if (!TryParseSection(name, out var item, out error))
                return false;
            list.Add(item);
        }
        return true;
    }

    /// <summary>BODY[section]&lt;start.length&gt;, BODY.PEEK[...], BINARY[...], BINARY.PEEK[...], BINARY.SIZE[...].</summary>
    private static bool TryParseSection(string name, out FetchItem item, out string error)
    {
        item = new FetchItem.Flags();
        error = $"Unknown FETCH item {(name.Length > 40 ? name[..40] : name)}";
        var open = name.IndexOf('[', StringComparison.Ordinal);
        var close = name.LastIndexOf(']');
        if (open < 0 || close < open)
            return false;
        var kind = name[..open].ToUpperInvariant();
        if (kind is not ("BODY" or "BODY.PEEK" or "BINARY" or "BINARY.PEEK" or "BINARY.SIZE"))
            return false;
        var inside = name[(open + 1)..close];
        if (!BodySection.TryParse(inside, out var section))
        {
            error = "Invalid body section";
            return false;
        }
        var binary = kind.StartsWith("BINARY", StringComparison.Ordinal);
        if (binary && section.Spec != "")
        {
            error = "BINARY takes a part number only";
            return false;
        }
        var responseName = (binary ? "BINARY" : "BODY") + "[" + inside + "]";
        if (kind == "BINARY.SIZE")
        {
            item = new FetchItem.BinarySize("BINARY.SIZE[" + inside + "]", section);
            return close == name.Length - 1;
        }
        long? start = null, length = null;
        var partial = name[(close + 1)..];
        if (partial.Length > 0)
        {
            var dot = partial.IndexOf('.', StringComparison.Ordinal);
            if (partial[0] != '<' || partial[^1] != '>' || dot < 0
                || !long.TryParse(partial[1..dot], NumberStyles.None, CultureInfo.InvariantCulture, out var s)
                || !long.TryParse(partial[(dot + 1)..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n == 0)
            {
                error = "Invalid partial";
                return false;
            }
            start = s;
            length = n;
            responseName += "<" + s.ToString(CultureInfo.InvariantCulture) + ">";
        }
        item = new FetchItem.Section(responseName, section, kind.EndsWith(".PEEK", StringComparison.Ordinal), start, length, binary);
        return true;
    }
}
