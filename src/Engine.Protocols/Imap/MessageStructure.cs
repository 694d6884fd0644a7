using System.Globalization;
using System.Text;
using MimeKit;
using MimeKit.Utils;

namespace Engine.Protocols.Imap;

/// <summary>
/// One message as IMAP sees it: parsed once with MimeKit, with the octet offsets of every entity kept, so that
/// a section (BODY[1.2], BODY[2.HEADER], BODY[1.MIME]) is the exact octets of the stored message, never a
/// re-serialization, and a message with broken MIME is still fetched byte for byte. ENVELOPE and
/// BODYSTRUCTURE are written from the parsed headers (RFC 9051 section 7.5.2), names in lower case as Dovecot writes them.
/// </summary>
public sealed class MessageStructure
{
    private readonly record struct Span(long Begin, long HeadersEnd, long End, int Lines);

    private readonly byte[] _octets;
    private readonly Dictionary<object, Span> _spans = new(ReferenceEqualityComparer.Instance);
    private MimeMessage? _message;

    private MessageStructure(byte[] octets) => _octets = octets;

    /// <summary>The message parsed with MimeKit, the first time something needs its structure.</summary>
    public MimeMessage Message => _message ??= ParseMime();

    /// <summary>Wraps the octets; MimeKit parses them only when a part, ENVELOPE or BODYSTRUCTURE is asked for.</summary>
    public static MessageStructure Of(byte[] octets) => new(octets);

    private MimeMessage ParseMime()
    {
        var begins = new Dictionary<object, long>(ReferenceEqualityComparer.Instance);
        MimeMessage message;
        try
        {
            using var stream = new MemoryStream(_octets, writable: false);
            var parser = new MimeParser(stream, MimeFormat.Entity);
            parser.MimeMessageBegin += (_, e) => begins[e.Message] = e.BeginOffset;
            parser.MimeMessageEnd += (_, e) => _spans[e.Message] = new Span(begins.GetValueOrDefault(e.Message), e.HeadersEndOffset, e.EndOffset, 0);
            parser.MimeEntityBegin += (_, e) => begins[e.Entity] = e.BeginOffset;
            parser.MimeEntityEnd += (_, e) => _spans[e.Entity] = new Span(begins.GetValueOrDefault(e.Entity), e.HeadersEndOffset, e.EndOffset, e.Lines);
            message = parser.ParseMessage();
        }
        catch (FormatException)
        {
            // Not even a header: one text part holding everything.
            message = new MimeMessage { Body = new TextPart("plain") };
            var lines = _octets.Count(b => b == '\n');
            _spans[message] = new Span(0, 0, _octets.Length, lines);
            _spans[message.Body] = new Span(0, 0, _octets.Length, lines);
        }
        return message;
    }

    /// <summary>
    /// Where the top-level header ends (after its blank line), found by scanning, so that BODY[], BODY[HEADER],
    /// BODY[TEXT] and BODY[HEADER.FIELDS (...)] need no MIME parse; a message without a blank line is all header.
    /// </summary>
    private long HeaderEnd()
    {
        if (_message is not null)
            return SpanOf(_message).HeadersEnd;
        var span = _octets.AsSpan();
        if (span.Length > 0 && span[0] == '\n')
            return 1;
        if (span.StartsWith("\r\n"u8))
            return 2;
        for (var i = span.IndexOf((byte)'\n'); i >= 0 && i + 1 < span.Length; i += 1 + span[(i + 1)..].IndexOf((byte)'\n'))
        {
            if (span[i + 1] == '\n')
                return i + 2;
            if (span[i + 1] == '\r' && i + 2 < span.Length && span[i + 2] == '\n')
                return i + 3;
            if (span[(i + 1)..].IndexOf((byte)'\n') < 0)
                break;
        }
        return span.Length;
    }

    /// <summary>The octets of a section; null when the message has no such part.</summary>
    public ReadOnlyMemory<byte>? Section(BodySection section)
    {
        if (section.Part.Count == 0)
        {
            var end = HeaderEnd();
            return section.Spec switch
            {
                "" => _octets,
                "HEADER" => Slice(0, end),
                "TEXT" => Slice(end, _octets.Length),
                _ => FilterHeader(Slice(0, end), section.Fields, section.Spec == "HEADER.FIELDS"),
            };
        }
        var message = Message;
        MimeEntity? entity = null;
        foreach (var n in section.Part)
        {
            var container = entity is null ? message.Body : entity is MessagePart mp ? mp.Message?.Body : entity;
            if (container is Multipart multipart)
                entity = n <= multipart.Count ? multipart[n - 1] : null;
            else if (n == 1 && (entity is null || entity is MessagePart))
                entity = container;
            else
                entity = null;
            if (entity is null)
                return null;
        }
        if (entity is not null && section.Spec is "" or "MIME")
        {
            var span = SpanOf(entity);
            return section.Spec == "MIME" ? Slice(span.Begin, span.HeadersEnd) : Slice(span.HeadersEnd, span.End);
        }
        if (entity is not null)
        {
            if (entity is not MessagePart { Message: { } inner })
                return null;
            message = inner;
        }
        var whole = SpanOf(message);
        return section.Spec switch
        {
            "" => Slice(whole.Begin, whole.End),
            "HEADER" => Slice(whole.Begin, whole.HeadersEnd),
            "TEXT" => Slice(whole.HeadersEnd, whole.End),
            _ => FilterHeader(Slice(whole.Begin, whole.HeadersEnd), section.Fields, section.Spec == "HEADER.FIELDS"),
        };
    }

    /// <summary>BINARY[part] (RFC 3516): the part's content with its transfer encoding undone; null when there is no such part.</summary>
    public ReadOnlyMemory<byte>? Binary(BodySection section)
    {
        var raw = Section(section);
        if (raw is null || section.Part.Count == 0)
            return raw;
        var entity = EntityAt(section.Part);
        if (entity is not MimePart { Content: not null } part || part.ContentTransferEncoding is ContentEncoding.Default
                or ContentEncoding.SevenBit or ContentEncoding.EightBit or ContentEncoding.Binary)
            return raw;
        using var decoded = new MemoryStream();
        part.Content.DecodeTo(decoded);
        return decoded.ToArray();
    }

    private MimeEntity? EntityAt(IReadOnlyList<int> path)
    {
        MimeEntity? entity = null;
        foreach (var n in path)
        {
            var container = entity is null ? Message.Body : entity is MessagePart mp ? mp.Message?.Body : entity;
            entity = container is Multipart m ? (n <= m.Count ? m[n - 1] : null) : n == 1 ? container : null;
            if (entity is null)
                return null;
        }
        return entity;
    }

    private Span SpanOf(object entity) => _spans.TryGetValue(entity, out var span) ? span : new Span(0, 0, 0, 0);

    private ReadOnlyMemory<byte> Slice(long from, long to)
    {
        from = Math.Clamp(from, 0, _octets.Length);
        to = Math.Clamp(to, from, _octets.Length);
        return _octets.AsMemory((int)from, (int)(to - from));
    }

    /// <summary>HEADER.FIELDS (or .NOT): the header's fields (with their folded lines) whose names are (not) listed, and the blank line.</summary>
    private static ReadOnlyMemory<byte> FilterHeader(ReadOnlyMemory<byte> header, IReadOnlyList<string> fields, bool keep)
    {
        var output = new MemoryStream();
        var span = header.Span;
        var include = false;
        var start = 0;
        while (start < span.Length)
        {
            var nl = span[start..].IndexOf((byte)'\n');
            var end = nl < 0 ? span.Length : start + nl + 1;
            var line = span[start..end];
            if (line.Length > 0 && line[0] is (byte)' ' or (byte)'\t')
            {
                if (include)
                    output.Write(line);
            }
            else if (line.Length > 0 && line[0] is not ((byte)'\r' or (byte)'\n'))
            {
                var colon = line.IndexOf((byte)':');
                var name = colon < 0 ? "" : Encoding.ASCII.GetString(line[..colon]).TrimEnd();
                include = colon > 0 && fields.Contains(name, StringComparer.OrdinalIgnoreCase) == keep;
                if (include)
                    output.Write(line);
            }
            start = end;
        }
        output.Write("\r\n"u8);
        return output.ToArray();
    }

    /// <summary>The ENVELOPE of the message (or of an embedded message/rfc822).</summary>
    public string Envelope() => EnvelopeOf(Message);

    private static string EnvelopeOf(MimeMessage message)
    {
        string? Raw(HeaderId id)
        {
            var header = message.Headers.FirstOrDefault(h => h.Id == id);
            return header is null ? null : Unfold(Encoding.UTF8.GetString(header.RawValue));
        }
        string Addresses(HeaderId id) => Raw(id) is { } value ? AddressList(value) : "NIL";
        var from = Addresses(HeaderId.From);
        var sender = Raw(HeaderId.Sender) is null ? from : Addresses(HeaderId.Sender);
        var replyTo = Raw(HeaderId.ReplyTo) is null ? from : Addresses(HeaderId.ReplyTo);
        return "(" + string.Join(' ', ImapString.Of(Raw(HeaderId.Date)), ImapString.Of(Raw(HeaderId.Subject)), from, sender, replyTo,
            Addresses(HeaderId.To), Addresses(HeaderId.Cc), Addresses(HeaderId.Bcc), ImapString.Of(Raw(HeaderId.InReplyTo)),
            ImapString.Of(Raw(HeaderId.MessageId))) + ")";
    }

    private static string Unfold(string value) => value.Replace("\r", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal).Trim();

    private static string AddressList(string raw)
    {
        if (!InternetAddressList.TryParse(raw, out var list) || list.Count == 0)
            return "NIL";
        var text = new StringBuilder("(");
        foreach (var address in list)
            Append(text, address);
        return text.Append(')').ToString();
    }

    private static void Append(StringBuilder text, InternetAddress address)
    {
        switch (address)
        {
            case MailboxAddress mailbox:
                var at = mailbox.Address.LastIndexOf('@');
                var local = at < 0 ? mailbox.Address : mailbox.Address[..at];
                var domain = at < 0 ? null : mailbox.Address[(at + 1)..];
                text.Append('(').Append(ImapString.Of(Phrase(mailbox.Name))).Append(" NIL ").Append(ImapString.Of(local)).Append(' ')
                    .Append(ImapString.Of(domain)).Append(')');
                break;
            case GroupAddress group:
                text.Append("(NIL NIL ").Append(ImapString.Of(group.Name)).Append(" NIL)");
                foreach (var member in group.Members)
                    Append(text, member);
                text.Append("(NIL NIL NIL NIL)");
                break;
        }
    }

    /// <summary>A display name as it would appear in the header: encoded words for what is not ASCII.</summary>
    private static string? Phrase(string? name) =>
        string.IsNullOrEmpty(name) ? null : name.All(char.IsAscii) ? name : Encoding.ASCII.GetString(Rfc2047.EncodePhrase(Encoding.UTF8, name));

    /// <summary>BODYSTRUCTURE (extensible) or BODY (without extension data).</summary>
    public string BodyStructure(bool extensible)
    {
        var text = new StringBuilder();
        AppendStructure(text, Message.Body ?? new TextPart("plain"), extensible);
        return text.ToString();
    }

    private void AppendStructure(StringBuilder text, MimeEntity entity, bool extensible)
    {
        var type = entity.ContentType;
        if (entity is Multipart multipart && multipart.Count > 0)
        {
            text.Append('(');
            foreach (var child in multipart)
                AppendStructure(text, child, extensible);
            text.Append(' ').Append(ImapString.Of(type.MediaSubtype.ToLowerInvariant()));
            if (extensible)
                text.Append(' ').Append(Parameters(type)).Append(' ').Append(Disposition(entity)).Append(' ').Append(Language(entity)).Append(' ')
                    .Append(ImapString.Of(Header(entity, HeaderId.ContentLocation)));
            text.Append(')');
            return;
        }
        var span = SpanOf(entity);
        var size = Math.Max(0, Math.Min(span.End, _octets.Length) - span.HeadersEnd);
        var mediaType = entity is Multipart ? "text" : type.MediaType.ToLowerInvariant();
        var subtype = entity is Multipart ? "plain" : type.MediaSubtype.ToLowerInvariant();
        text.Append('(').Append(ImapString.Of(mediaType)).Append(' ').Append(ImapString.Of(subtype)).Append(' ').Append(Parameters(type))
            .Append(' ').Append(ImapString.Of(Header(entity, HeaderId.ContentId))).Append(' ').Append(ImapString.Of(Header(entity, HeaderId.ContentDescription)))
            .Append(' ').Append(ImapString.Of((Header(entity, HeaderId.ContentTransferEncoding) ?? "7bit").ToLowerInvariant()))
            .Append(' ').Append(size.ToString(CultureInfo.InvariantCulture));
        if (entity is MessagePart { Message: { } inner } && mediaType == "message" && subtype is "rfc822" or "global")
        {
            text.Append(' ').Append(EnvelopeOf(inner)).Append(' ');
            AppendStructure(text, inner.Body ?? new TextPart("plain"), extensible);
            text.Append(' ').Append(span.Lines.ToString(CultureInfo.InvariantCulture));
        }
        else if (mediaType == "text")
        {
            text.Append(' ').Append(span.Lines.ToString(CultureInfo.InvariantCulture));
        }
        if (extensible)
            text.Append(' ').Append(ImapString.Of(Header(entity, HeaderId.ContentMd5))).Append(' ').Append(Disposition(entity)).Append(' ')
                .Append(Language(entity)).Append(' ').Append(ImapString.Of(Header(entity, HeaderId.ContentLocation)));
        text.Append(')');
    }

    private static string? Header(MimeEntity entity, HeaderId id) =>
        entity.Headers.FirstOrDefault(h => h.Id == id) is { } header ? Unfold(Encoding.UTF8.GetString(header.RawValue)) : null;

    private static string Parameters(ContentType type)
    {
        if (type.Parameters.Count == 0)
            return type.MediaType.Equals("text", StringComparison.OrdinalIgnoreCase) ? "(\"charset\" \"us-ascii\")" : "NIL";
        return "(" + string.Join(' ', type.Parameters.Select(p => ImapString.Of(p.Name.ToLowerInvariant()) + " " + ImapString.Of(p.Value))) + ")";
    }

    private static string Disposition(MimeEntity entity)
    {
        if (entity.ContentDisposition is not { } disposition)
            return "NIL";
        var parameters = disposition.Parameters.Count == 0
            ? "NIL"
            : "(" + string.Join(' ', disposition.Parameters.Select(p => ImapString.Of(p.Name.ToLowerInvariant()) + " " + ImapString.Of(p.Value))) + ")";
        return "(" + ImapString.Of(disposition.Disposition.ToLowerInvariant()) + " " + parameters + ")";
    }

    private static string Language(MimeEntity entity) =>
        entity.Headers[HeaderId.ContentLanguage] is { Length: > 0 } language
            ? "(" + string.Join(' ', language.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(ImapString.Of)) + ")"
            : "NIL";
}
