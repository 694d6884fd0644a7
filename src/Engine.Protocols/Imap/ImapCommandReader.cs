using System.Buffers;
using System.Globalization;
using System.Text;

namespace Engine.Protocols.Imap;

/// <summary>What the reader makes of the client's octets.</summary>
public abstract record ImapInput
{
    /// <summary>A complete command.</summary>
    public sealed record Command(ImapCommand Value) : ImapInput;

    /// <summary>A synchronizing literal was announced and will be read: send "+ Ready for literal data".</summary>
    public sealed record Continue(string Tag) : ImapInput;

    /// <summary>The command cannot be parsed: "TAG BAD text" (or "* BAD text" when no tag could be read). The session goes on.</summary>
    public sealed record Bad(string? Tag, string Text) : ImapInput;

    /// <summary>A synchronizing literal over the limit: "TAG NO [TOOBIG] ..."; the client will not send it.</summary>
    public sealed record TooBig(string Tag, long Size) : ImapInput;

    /// <summary>Input that cannot be recovered from (a non-synchronizing literal over the limit): "* BYE" and close.</summary>
    public sealed record Fatal(string Text) : ImapInput;

    /// <summary>A line that is not a command, read because <see cref="ImapCommandReader.ExpectLine"/> was set: IDLE's "DONE", a SASL response.</summary>
    public sealed record Line(string Text) : ImapInput;
}

/// <summary>
/// Frames and parses IMAP commands without I/O (RFC 9051 section 2.2, RFC 7888 LITERAL+): lines, synchronizing
/// literals {n} (answered by a continuation, or refused with [TOOBIG] before the client sends them),
/// non-synchronizing literals {n+}, literal8 ~{n}, quoted strings, lists, and atoms with their [section] and
/// &lt;partial&gt;. Every line is bounded by <c>maxLine</c>; every literal by <c>maxLiteral</c>, and a whole
/// command (all its lines and literals) by <c>maxLiteral</c> plus 16 lines, checked when a literal is
/// announced (so a client that announces 2 GB is refused before it sends a byte of it). Literal buffers
/// grow as the octets arrive, never ahead of them.
/// </summary>
public sealed class ImapCommandReader(int maxLine, long maxLiteral)
{
    /// <summary>The largest literal accepted now (the session lowers it until LOGIN).</summary>
    public long MaxLiteral { get; set; } = maxLiteral;

    private readonly List<object> _parts = []; // string (text) and ImapToken.Literal, in order
    private readonly ArrayBufferWriter<byte> _line = new();
    private readonly long _maxCommand = maxLiteral + 16L * maxLine;
    private long _commandBytes;
    private ArrayBufferWriter<byte>? _literal;
    private long _literalSize;
    private bool _literalBinary;
    private bool _discardingLine;
    private string? _discardTag;

    /// <summary>
    /// Set when the next line is not a command (after "+ idling", or a SASL challenge): it comes back whole as
    /// <see cref="ImapInput.Line"/>, and the reader goes back to commands.
    /// </summary>
    public bool ExpectLine { get; set; }

    /// <summary>
    /// Reads what it can; each complete result is added to <paramref name="events"/>. It stops after each
    /// command or line, so that the caller can act on it (IDLE, AUTHENTICATE) before the octets after it are
    /// read: call again while <paramref name="reader"/> has octets left.
    /// </summary>
    public void Read(ref SequenceReader<byte> reader, List<ImapInput> events)
    {
        var before = events.Count;
        while (!reader.End && !events.Skip(before).Any(e => e is ImapInput.Command or ImapInput.Line or ImapInput.Bad))
        {
            if (_literal is not null)
            {
                var take = (int)Math.Min(Math.Min(reader.Remaining, _literalSize - _literal.WrittenCount), 64 * 1024);
                reader.TryCopyTo(_literal.GetSpan(take)[..take]);
                _literal.Advance(take);
                reader.Advance(take);
                if (_literal.WrittenCount == _literalSize)
                {
                    _parts.Add(new ImapToken.Literal(_literal.WrittenSpan.ToArray(), _literalBinary));
                    _literal = null;
                }
                continue;
            }
            if (!reader.TryReadTo(out ReadOnlySequence<byte> chunk, (byte)'\n', advancePastDelimiter: true))
            {
                // No line end yet: keep the octets, unless the line is already too long.
                if (!_discardingLine)
                {
                    foreach (var segment in reader.UnreadSequence)
                        _line.Write(segment.Span);
                    if (_line.WrittenCount > maxLine)
                        StartDiscarding();
                }
                reader.AdvanceToEnd();
                return;
            }
            if (_discardingLine)
            {
                _discardingLine = false;
                events.Add(new ImapInput.Bad(_discardTag, "Command line too long"));
                Reset();
                continue;
            }
            foreach (var segment in chunk)
                _line.Write(segment.Span);
            var text = _line.WrittenSpan;
            if (text.Length > 0 && text[^1] == '\r')
                text = text[..^1];
            if (text.Length > maxLine)
            {
                events.Add(new ImapInput.Bad(TagOf(), "Command line too long"));
                Reset();
                continue;
            }
            OnLine(text, events);
        }
    }

    private void StartDiscarding()
    {
        _discardTag = TagOf();
        _discardingLine = true;
        _line.Clear();
    }

    private void OnLine(ReadOnlySpan<byte> text, List<ImapInput> events)
    {
        if (ExpectLine && _parts.Count == 0)
        {
            ExpectLine = false;
            events.Add(new ImapInput.Line(Encoding.UTF8.GetString(text)));
            _line.Clear();
            return;
        }
        var literal = LiteralAtEnd(text);
        var line = Encoding.UTF8.GetString(literal is null ? text : text[..literal.Value.Start]);
        _line.Clear();
        _parts.Add(line);
        if (literal is not { } l)
        {
            var parts = _parts.ToArray();
            Reset();
            events.Add(Parse(parts));
            return;
        }
        var tag = TagOf() ?? "*";
        _commandBytes += text.Length + l.Size;
        if (l.Size > MaxLiteral || _commandBytes > _maxCommand)
        {
            Reset();
            events.Add(l.Synchronizing ? new ImapInput.TooBig(tag, l.Size) : new ImapInput.Fatal("Literal too large"));
            return;
        }
        _literal = new ArrayBufferWriter<byte>((int)Math.Min(l.Size, 64 * 1024) + 1);
        _literalSize = l.Size;
        _literalBinary = l.Binary;
        if (l.Synchronizing)
            events.Add(new ImapInput.Continue(tag));
        if (l.Size == 0)
        {
            _parts.Add(new ImapToken.Literal([], l.Binary));
            _literal = null;
        }
    }

    private readonly record struct LiteralMark(int Start, long Size, bool Synchronizing, bool Binary);

    /// <summary>"{123}", "{123+}" or "~{123}" at the end of a line.</summary>
    private static LiteralMark? LiteralAtEnd(ReadOnlySpan<byte> text)
    {
        if (text.Length < 3 || text[^1] != '}')
            return null;
        var open = text.LastIndexOf((byte)'{');
        if (open < 0)
            return null;
        var inside = text[(open + 1)..^1];
        var plus = inside.Length > 0 && inside[^1] == '+';
        var digits = plus ? inside[..^1] : inside;
        if (digits.Length is 0 or > 12 || !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var size))
            return null;
        var binary = open > 0 && text[open - 1] == '~';
        return new LiteralMark(binary ? open - 1 : open, size, !plus, binary);
    }

    /// <summary>The tag of the command being read, when its first line has one.</summary>
    private string? TagOf()
    {
        var first = _parts.Count > 0 ? _parts[0] as string : Encoding.UTF8.GetString(_line.WrittenSpan);
        if (string.IsNullOrEmpty(first))
            return null;
        var space = first.IndexOf(' ');
        var tag = space < 0 ? first : first[..space];
        return IsTag(tag) ? tag : null;
    }

    private static bool IsTag(string tag) => tag.Length > 0 && tag.All(c => c > ' ' && c < 0x7F && c is not ('(' or ')' or '{' or '%' or '*' or '"' or '\\' or '+'));

    private void Reset()
    {
        _parts.Clear();
        _line.Clear();
        _literal = null;
        _commandBytes = 0;
    }

    /// <summary>Tokenizes the parts of one command (text, with literals between).</summary>
    private static ImapInput Parse(object[] parts)
    {
        var tokens = new List<ImapToken>();
        var stack = new Stack<List<ImapToken>>();
        var current = tokens;
        foreach (var part in parts)
        {
            if (part is ImapToken.Literal literal)
            {
                current.Add(literal);
                continue;
            }
            var text = (string)part;
            var i = 0;
            while (i < text.Length)
            {
                var c = text[i];
                if (c == ' ')
                {
                    i++;
                }
                else if (c < ' ' || c == 0x7F)
                {
                    return Bad(tokens, "Control character in command");
                }
                else if (c == '(')
                {
                    stack.Push(current);
                    current = [];
                    i++;
                }
                else if (c == ')')
                {
                    if (stack.Count == 0)
                        return Bad(tokens, "Unexpected ')'");
                    var list = new ImapToken.List(current);
                    current = stack.Pop();
                    current.Add(list);
                    i++;
                }
                else if (c == '"')
                {
                    var value = new StringBuilder();
                    i++;
                    while (i < text.Length && text[i] != '"')
                    {
                        if (text[i] == '\\' && i + 1 < text.Length && text[i + 1] is '"' or '\\')
                            i++;
                        else if (text[i] == '\\')
                            return Bad(tokens, "Invalid escape in quoted string");
                        value.Append(text[i++]);
                    }
                    if (i >= text.Length)
                        return Bad(tokens, "Unterminated quoted string");
                    i++;
                    current.Add(new ImapToken.Quoted(value.ToString()));
                }
                else
                {
                    var start = i;
                    var depth = 0;
                    while (i < text.Length && (depth > 0 || (text[i] != ' ' && text[i] != '(' && text[i] != ')')))
                    {
                        if (text[i] < ' ' || text[i] == 0x7F)
                            return Bad(tokens, "Control character in command");
                        depth += text[i] == '[' ? 1 : text[i] == ']' ? -1 : 0;
                        i++;
                    }
                    if (depth != 0)
                        return Bad(tokens, "Unbalanced '['");
                    current.Add(new ImapToken.Atom(text[start..i]));
                }
            }
        }
        if (stack.Count > 0)
            return Bad(tokens, "Missing ')'");
        if (tokens.Count == 0 || tokens[0] is not ImapToken.Atom { Value: var tag } || !IsTag(tag))
            return new ImapInput.Bad(null, "Missing or invalid tag");
        if (tokens.Count < 2 || tokens[1] is not ImapToken.Atom { Value: var name })
            return new ImapInput.Bad(tag, "Missing command");
        return new ImapInput.Command(new ImapCommand(tag, name.ToUpperInvariant(), tokens.Skip(2).ToArray()));
    }

    private static ImapInput Bad(List<ImapToken> tokens, string text) =>
        new ImapInput.Bad(tokens.Count > 0 && tokens[0] is ImapToken.Atom { Value: var tag } && IsTag(tag) ? tag : null, text);
}
