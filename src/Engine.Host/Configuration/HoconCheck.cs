using System.Text;

namespace Engine.Host.Configuration;

/// <summary>Where a configuration file is wrong, and why; line and column count from 1.</summary>
public sealed record HoconError(int Line, int Column, string Reason)
{
    public override string ToString() => $"line {Line}, column {Column}: {Reason}";
}

/// <summary>
/// A check of a HOCON file's structure before Akka's parser reads it: braces and brackets that pair up, strings
/// and substitutions that end, a separator after each key, one field per line or comma. Akka's parser gives no
/// line numbers, and on some broken files (an unclosed array or string, a stray '}') it never returns; this
/// check refuses them first, with the line and the reason. It also records the line of every key, so a value
/// the engine refuses later can be shown where it was written.
/// </summary>
public sealed class HoconCheck
{
    private readonly string _text;
    private readonly Dictionary<string, int> _lines = new(StringComparer.Ordinal);
    private int _pos;
    private int _depth;
    private const int MaxDepth = 64;

    private readonly List<int> _lineStarts = [0];

    private HoconCheck(string text)
    {
        _text = text;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\n')
                _lineStarts.Add(i + 1);
        }
    }

    /// <summary>The first structural error of the text, or null, and the line of each key ("engine.smtp.listen" → 12).</summary>
    public static (HoconError? Error, IReadOnlyDictionary<string, int> Lines) Check(string text)
    {
        var check = new HoconCheck(text);
        try
        {
            check.Root();
            return (null, check._lines);
        }
        catch (Failure f)
        {
            return (f.Error, check._lines);
        }
    }

    /// <summary>The line where <paramref name="path"/> or the nearest of its parents was written, if it was.</summary>
    public static int? LineOf(IReadOnlyDictionary<string, int> lines, string path)
    {
        for (var p = path; p.Length > 0; p = p.LastIndexOf('.') is var dot and > 0 ? p[..dot] : "")
        {
            if (lines.TryGetValue(p, out var line))
                return line;
        }
        return null;
    }

    private sealed class Failure(HoconError error) : Exception(error.ToString())
    {
        public HoconError Error { get; } = error;
    }

    private Failure Fail(string reason, int? at = null)
    {
        var pos = Math.Min(at ?? _pos, _text.Length);
        var line = LineAt(pos);
        return new Failure(new HoconError(line, pos - _lineStarts[line - 1] + 1, reason));
    }

    /// <summary>The line (from 1) of a position, by binary search over the lines' starts.</summary>
    private int LineAt(int pos)
    {
        var index = _lineStarts.BinarySearch(pos);
        return index >= 0 ? index + 1 : ~index;
    }

    private bool AtEnd => _pos >= _text.Length;
    private char Current => _text[_pos];

    private bool At(string s) => string.CompareOrdinal(_text, _pos, s, 0, s.Length) == 0;

    /// <summary>Spaces and comments; new lines too when <paramref name="newLines"/>. Whether a new line was passed.</summary>
    private bool Skip(bool newLines)
    {
        var passed = false;
        while (!AtEnd)
        {
            if (Current == '\n')
            {
                if (!newLines)
                    return passed;
                passed = true;
                _pos++;
            }
            else if (char.IsWhiteSpace(Current) || Current == '\uFEFF')
            {
                _pos++;
            }
            else if (Current == '#' || At("//"))
            {
                while (!AtEnd && Current != '\n')
                    _pos++;
            }
            else
            {
                return passed;
            }
        }
        return passed;
    }

    private void Root()
    {
        Skip(newLines: true);
        if (!AtEnd && Current == '{')
        {
            var open = _pos++;
            Fields("", closer: '}', open);
            Skip(newLines: true);
            if (!AtEnd)
                throw Fail($"'{Current}' after the end of the file's object");
        }
        else
        {
            Fields("", closer: null, 0);
        }
    }

    /// <summary>The fields of an object up to its closer (or the end of the file for the root without braces).</summary>
    private void Fields(string parent, char? closer, int open)
    {
        if (++_depth > MaxDepth)
            throw Fail($"objects and arrays nested more than {MaxDepth} deep");
        while (true)
        {
            Skip(newLines: true);
            if (AtEnd)
            {
                if (closer is null)
                    break;
                throw Fail($"'{{' opened at line {LineAt(open)} is never closed");
            }
            if (Current == closer)
            {
                _pos++;
                break;
            }
            if (Current is '}' or ']')
                throw Fail($"'{Current}' with nothing open to close");
            if (Current == ',')
                throw Fail("',' where a key was expected");
            Field(parent);
            // After a field: a new line, a comma, or the object's end.
            var newLine = Skip(newLines: false);
            if (AtEnd || Current == '\n' || Current == closer)
                continue;
            if (Current is '}' or ']')
                throw Fail($"'{Current}' with nothing open to close");
            if (Current == ',')
            {
                _pos++;
                continue;
            }
            if (!newLine)
                throw Fail($"'{Current}' after a value: one setting per line, or a ',' between them");
        }
        _depth--;
    }

    private void Field(string parent)
    {
        var keyStart = _pos;
        var key = Key();
        Skip(newLines: false);
        if (key == "include" && !AtEnd && (Current == '"' || At("file(") || At("required(") || At("url(") || At("classpath(")))
            throw Fail("include is not supported: put the settings in this file (or give them with --set)", keyStart);
        var path = parent.Length == 0 ? key : parent + "." + key;
        _lines.TryAdd(path, LineAt(keyStart));
        Skip(newLines: false);
        if (AtEnd || Current == '\n')
            throw Fail($"'{key}' has no value: '=' or ':' and a value, or '{{' and an object, must follow it on its line");
        if (Current == '{')
        {
            var open = _pos++;
            Fields(path, '}', open);
            return;
        }
        if (At("+="))
            _pos += 2;
        else if (Current is '=' or ':')
            _pos++;
        else
            throw Fail($"'{Current}' after the key '{key}', where '=', ':' or '{{' was expected");
        Skip(newLines: true);
        if (AtEnd)
            throw Fail($"'{key}' has no value before the end of the file");
        Value(path, key);
    }

    /// <summary>A key: unquoted or quoted parts, joined by dots ("a.b", "\"x.y\".z").</summary>
    private string Key()
    {
        var key = new StringBuilder();
        while (!AtEnd)
        {
            if (Current == '"')
            {
                key.Append(Quoted());
            }
            else if (IsKeyChar(Current))
            {
                while (!AtEnd && IsKeyChar(Current))
                    key.Append(_text[_pos++]);
            }
            else
            {
                break;
            }
        }
        if (key.Length == 0)
            throw Fail(AtEnd ? "a key was expected before the end of the file" : $"'{Current}' where a key was expected");
        return key.ToString();
    }

    private static bool IsKeyChar(char c) =>
        !char.IsWhiteSpace(c) && c is not ('=' or ':' or '{' or '}' or '[' or ']' or ',' or '"' or '#' or '+' or '$' or '\'' or '`' or '^' or '?' or '!' or '@' or '*' or '&' or '\\');

    /// <summary>A value: an object, an array, or strings, numbers and substitutions on one line.</summary>
    private void Value(string path, string key)
    {
        var any = false;
        while (!AtEnd)
        {
            switch (Current)
            {
                case '{':
                    var open = _pos++;
                    Fields(path, '}', open);
                    break;
                case '[':
                    Array(path);
                    break;
                case '"':
                    if (At("\"\"\""))
                        TripleQuoted();
                    else
                        Quoted();
                    break;
                case '$':
                    Substitution();
                    break;
                case '\n' or ',' or '}' or ']' or '#':
                    if (!any)
                        throw Fail($"'{key}' has no value");
                    return;
                default:
                    if (At("//"))
                    {
                        if (!any)
                            throw Fail($"'{key}' has no value");
                        return;
                    }
                    if (char.IsWhiteSpace(Current))
                    {
                        _pos++;
                        continue;
                    }
                    while (!AtEnd && Current is not ('\n' or ',' or '}' or ']' or '{' or '[' or '"' or '$' or '#') && !At("//"))
                    {
                        if (Current == '=')
                            throw Fail("'=' inside a value: is a ']' or '}' missing before it, or should the value be quoted?");
                        // Akka's reader stops on these outside quotes, and in an array never gets past them.
                        if (Current is ':' or '`' or '^' or '?' or '!' or '@' or '*' or '&' or '\\')
                            throw Fail($"'{Current}' outside quotes: quote the value (\"...\")");
                        _pos++;
                    }
                    break;
            }
            any = true;
        }
        if (!any)
            throw Fail($"'{key}' has no value");
    }

    private void Array(string path)
    {
        var open = _pos++;
        if (++_depth > MaxDepth)
            throw Fail($"objects and arrays nested more than {MaxDepth} deep");
        while (true)
        {
            Skip(newLines: true);
            if (AtEnd)
                throw Fail($"'[' opened at line {LineAt(open)} is never closed");
            if (Current == ']')
            {
                _pos++;
                break;
            }
            if (Current == '}')
                throw Fail($"'}}' inside the '[' opened at line {LineAt(open)}: the array is not closed");
            if (Current == ',')
                throw Fail("',' where an element of the array was expected");
            Value(path, "an element");
            Skip(newLines: false);
            if (!AtEnd && Current == ',')
                _pos++;
        }
        _depth--;
    }

    private string Quoted()
    {
        var start = _pos++;
        var value = new StringBuilder();
        while (true)
        {
            if (AtEnd || Current == '\n')
                throw Fail("a string that does not end on its line (a '\"' is missing)", start);
            var c = _text[_pos++];
            if (c == '"')
                return value.ToString();
            if (c == '\\')
            {
                if (AtEnd || Current == '\n')
                    throw Fail("a string that does not end on its line (a '\"' is missing)", start);
                c = _text[_pos++];
                if (c is not ('"' or '\\' or '/' or 'b' or 'f' or 'n' or 'r' or 't' or 'u'))
                    throw Fail($"'\\{c}' is not an escape of a quoted string (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)", _pos - 2);
            }
            value.Append(c);
        }
    }

    private void TripleQuoted()
    {
        var start = _pos;
        var end = _text.IndexOf("\"\"\"", _pos + 3, StringComparison.Ordinal);
        if (end < 0)
            throw Fail("a \"\"\" string that is never closed", start);
        _pos = end + 3;
        while (!AtEnd && Current == '"')
            _pos++;
    }

    private void Substitution()
    {
        var start = _pos;
        if (!At("${"))
            throw Fail("'$' outside quotes: a substitution is written ${path}");
        if (At("${?"))
            throw Fail("optional substitutions (${?...}) are not supported: write ${path}, or give the value with --set");
        var end = _text.IndexOfAny(['}', '\n'], _pos);
        if (end < 0 || _text[end] != '}')
            throw Fail("a substitution '${' that does not end with '}' on its line", start);
        _pos = end + 1;
    }
}
