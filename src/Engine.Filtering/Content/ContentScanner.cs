using System.Buffers;
using System.Text;
using System.Text.RegularExpressions;
using Engine.Filtering.Restrictions;
using Engine.Primitives;

namespace Engine.Filtering.Content;

/// <summary>A content check's finding for the maillog: what matched ("header Subject: ...", "body ...") and what it did.</summary>
public sealed record ContentFinding(string Action, string Where, string Text);

/// <summary>
/// header_checks, mime_header_checks, nested_header_checks and body_checks on the message as it streams into
/// the spool (Postfix's cleanup does the same): the text is cut into lines, headers are gathered into logical
/// headers (with their continuation lines) and checked unfolded; MIME boundaries are followed, so part headers
/// and attached messages' headers go to their own tables and the rest to body_checks. Actions, as Postfix:
/// REJECT [text] (550 5.7.1, the rest is not inspected), DISCARD, HOLD, REDIRECT, FILTER, WARN, INFO, DUNNO,
/// OK; in headers also IGNORE (the header is dropped), REPLACE text and PREPEND text; IGNORE in the body drops
/// the line. Runs on the connection's task; the session reads the findings once the text is read.
/// </summary>
public sealed class ContentScanner(ContentChecks checks)
{
    private const int MaxHeader = 102_400; // Postfix's header_size_limit: a longer header is not checked further
    private readonly ArrayBufferWriter<byte> _output = new(4096);
    private readonly List<byte> _line = [];
    private readonly StringBuilder _header = new();
    private readonly List<byte[]> _headerLines = [];
    private const int MaxNesting = 100; // Postfix's mime_nesting_limit: deeper multiparts are read as body
    private readonly List<string> _boundaries = []; // the open multiparts' boundaries, innermost last
    private int _headerBytes;
    private bool _headerOverflow; // the header passed MaxHeader: checked as far as it went, the rest written through
    private Section _section = Section.Primary;
    private string? _partType;      // the Content-Type of the part whose headers are being read
    private string? _partBoundary;  // a boundary= in them
    private bool _nextIsMessage;    // the part's body is an attached message (message/rfc822)

    private enum Section
    {
        Primary,
        PartHeaders,
        NestedHeaders,
        Body,
    }

    public SmtpReply? Rejection { get; private set; }

    public List<TransactionEffect> Effects { get; } = [];

    public List<ContentFinding> Findings { get; } = [];

    /// <summary>The octets to spool for this piece of text (lines not finished yet, and a header still gathering, wait).</summary>
    public ReadOnlyMemory<byte> Scan(ReadOnlySpan<byte> text)
    {
        _output.ResetWrittenCount();
        foreach (var b in text)
        {
            _line.Add(b);
            if (b == (byte)'\n')
            {
                Line([.. _line]);
                _line.Clear();
            }
        }
        return _output.WrittenMemory;
    }

    /// <summary>The end of the text: what was still held back.</summary>
    public ReadOnlyMemory<byte> Finish()
    {
        _output.ResetWrittenCount();
        if (_line.Count > 0)
        {
            Line([.. _line]);
            _line.Clear();
        }
        FlushHeader();
        return _output.WrittenMemory;
    }

    private void Line(byte[] line)
    {
        var text = Encoding.UTF8.GetString(line).TrimEnd('\r', '\n');
        if (_section != Section.Body)
        {
            if (text.Length > 0 && (text[0] == ' ' || text[0] == '\t') && (_headerLines.Count > 0 || _headerOverflow))
            {
                if (_headerOverflow)
                {
                    Write(line);
                    return;
                }
                _headerLines.Add(line);
                _headerBytes += line.Length;
                if (_headerBytes <= MaxHeader)
                    _header.Append(text);
                else
                {
                    FlushHeader(); // a header this long is held no longer: checked as far as it went, the rest written through
                    _headerOverflow = true;
                }
                return;
            }
            _headerOverflow = false;
            FlushHeader();
            if (text.Length == 0)
            {
                EndOfHeaders();
                Write(line);
                return;
            }
            if (text.IndexOf(':') > 0)
            {
                _headerLines.Add(line);
                _headerBytes = line.Length;
                _header.Append(text);
                return;
            }
            EndOfHeaders(); // not a header: the body has begun without its empty line
        }
        if (_boundaries.Count > 0 && text.StartsWith("--", StringComparison.Ordinal) && Boundary(text) is var (at, closing) && at >= 0)
        {
            Write(line);
            // The multiparts inside the one whose boundary this is are over, and so is that one when it closes.
            _boundaries.RemoveRange(closing ? at : at + 1, _boundaries.Count - (closing ? at : at + 1));
            if (!closing)
                StartPart(Section.PartHeaders);
            return;
        }
        if (Check(checks.Body, text, "body") is { } action && action.StartsWith("IGNORE", StringComparison.OrdinalIgnoreCase))
            return;
        Write(line);
    }

    /// <summary>Which open multipart (index, innermost first) a line is a boundary of, and whether it closes it; index -1 for none.</summary>
    private (int At, bool Closing) Boundary(string text)
    {
        var line = text.AsSpan().TrimEnd()[2..];
        for (var i = _boundaries.Count - 1; i >= 0; i--)
        {
            var boundary = _boundaries[i];
            if (line.StartsWith(boundary, StringComparison.Ordinal))
            {
                var rest = line[boundary.Length..];
                if (rest.IsEmpty)
                    return (i, false);
                if (rest.SequenceEqual("--"))
                    return (i, true);
            }
        }
        return (-1, false);
    }

    private void StartPart(Section section)
    {
        _section = section;
        _partType = null;
        _partBoundary = null;
    }

    /// <summary>The empty line after headers: what follows is body, a multipart's preamble, or an attached message's headers.</summary>
    private void EndOfHeaders()
    {
        if (_partBoundary is { } boundary && _partType?.StartsWith("multipart/", StringComparison.OrdinalIgnoreCase) == true)
            if (_boundaries.Count < MaxNesting && boundary.Length is > 0 and <= 70) // RFC 2046 section 5.1.1: at most 70 characters
                _boundaries.Add(boundary);
        _nextIsMessage = _partType?.StartsWith("message/rfc822", StringComparison.OrdinalIgnoreCase) == true;
        if (_nextIsMessage)
            StartPart(Section.NestedHeaders);
        else
            _section = Section.Body;
        _partType = null;
        _partBoundary = null;
    }

    private void FlushHeader()
    {
        if (_headerLines.Count == 0)
            return;
        var header = _header.ToString();
        var name = header[..header.IndexOf(':')].Trim();
        if (name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))
        {
            var value = header[(header.IndexOf(':') + 1)..].Trim();
            _partType = value.Split(';')[0].Trim();
            Match match;
            try
            {
                match = Regex.Match(value, "boundary\\s*=\\s*(\"([^\"]*)\"|([^;\\s]+))", RegexOptions.IgnoreCase, TimeSpan.FromMilliseconds(100));
            }
            catch (RegexMatchTimeoutException)
            {
                match = Match.Empty;
            }
            if (match.Success)
                _partBoundary = match.Groups[2].Success && match.Groups[2].Length > 0 ? match.Groups[2].Value : match.Groups[3].Value;
        }
        var mime = name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase) || name.Equals("MIME-Version", StringComparison.OrdinalIgnoreCase);
        var table = mime ? checks.MimeHeaders : _section == Section.NestedHeaders ? checks.NestedHeaders : _section == Section.Primary ? checks.Headers : null;
        var action = Check(table, header, "header");
        var word = action?.Split(' ', 2)[0].ToUpperInvariant();
        var rest = action?.Contains(' ') == true ? action[(action.IndexOf(' ') + 1)..] : "";
        switch (word)
        {
            case "IGNORE":
                break;
            case "REPLACE" when rest.Length > 0:
                Write(Encoding.UTF8.GetBytes(rest + "\r\n"));
                break;
            case "PREPEND" when rest.Length > 0:
                Write(Encoding.UTF8.GetBytes(rest + "\r\n"));
                _headerLines.ForEach(Write);
                break;
            default:
                _headerLines.ForEach(Write);
                break;
        }
        _headerLines.Clear();
        _header.Clear();
    }

    /// <summary>Looks a header or body line up and keeps what its action decides; returns the action (null: no match, or after a REJECT).</summary>
    private string? Check(Engine.Filtering.Access.AccessTable? table, string text, string where)
    {
        if (table is null || Rejection is not null || table.Find(text) is not { } action)
            return null;
        var word = action.Split(' ', 2)[0].ToUpperInvariant();
        var rest = action.Contains(' ') ? action[(action.IndexOf(' ') + 1)..].Trim() : "";
        var shown = text.Length > 200 ? text[..200] : text;
        switch (word)
        {
            case "REJECT":
                Rejection = new SmtpReply(550, "5.7.1", rest.Length > 0 ? rest : "Message content rejected");
                Findings.Add(new ContentFinding("reject", $"{where} {shown}", Rejection.ToString()[4..]));
                break;
            case var code when code.Length == 3 && code[0] is '4' or '5' && code.All(char.IsAsciiDigit):
                Rejection = rest.Length == 0 ? new SmtpReply(int.Parse(code), $"{code[0]}.7.1", "Message content rejected")
                    : SmtpReply.Parse(action) is { Enhanced: null } bare ? bare with { Enhanced = $"{code[0]}.7.1" } : SmtpReply.Parse(action);
                Findings.Add(new ContentFinding("reject", $"{where} {shown}", Rejection.ToString()[4..]));
                break;
            case "DISCARD":
                Effects.Add(new TransactionEffect.Discard(rest));
                Findings.Add(new ContentFinding("discard", $"{where} {shown}", rest));
                break;
            case "HOLD":
                Effects.Add(new TransactionEffect.Hold(rest.Length > 0 ? rest : $"{where} triggers HOLD action"));
                Findings.Add(new ContentFinding("hold", $"{where} {shown}", rest));
                break;
            case "REDIRECT" when rest.Contains('@'):
                Effects.Add(new TransactionEffect.Redirect(rest));
                Findings.Add(new ContentFinding("redirect", $"{where} {shown}", rest));
                break;
            case "FILTER" when rest.Contains(':'):
                Findings.Add(new ContentFinding("filter (not carried out yet)", $"{where} {shown}", rest));
                break;
            case "WARN" or "INFO":
                Findings.Add(new ContentFinding(word.ToLowerInvariant(), $"{where} {shown}", rest));
                break;
            case "IGNORE" or "REPLACE" or "PREPEND" when where == "header" || word == "IGNORE":
                Findings.Add(new ContentFinding(word.ToLowerInvariant(), $"{where} {shown}", rest));
                break;
        }
        return action;
    }

    private void Write(byte[] bytes) => _output.Write(bytes);
}
