using System.Text;
using Engine.Primitives;

namespace Engine.Protocols.Smtp;

/// <summary>The result of parsing one command line: a command, or the reason it was refused.</summary>
public readonly record struct SmtpParseResult(SmtpCommand? Command, SmtpSyntaxError Error, string? Detail = null)
{
    public static SmtpParseResult Ok(SmtpCommand command) => new(command, SmtpSyntaxError.None);
    public static SmtpParseResult Fail(SmtpSyntaxError error, string? detail = null) => new(null, error, detail);
    public bool IsOk => Command is not null;
}

/// <summary>
/// Parses one SMTP command line (without its CRLF) into a <see cref="SmtpCommand"/>. No I/O and no state:
/// the session decides whether the command is allowed now.
/// </summary>
public sealed class SmtpCommandParser(int commandLineLimit = 512, int extensionAllowance = 1024)
{
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    /// <summary>The longest line the framing layer must keep; longer lines are refused without parsing.</summary>
    public int MaxLineLength => commandLineLimit + extensionAllowance;

    public SmtpParseResult Parse(ReadOnlySpan<byte> line)
    {
        string text;
        try
        {
            text = StrictUtf8.GetString(line);
        }
        catch (DecoderFallbackException)
        {
            return SmtpParseResult.Fail(SmtpSyntaxError.BadEncoding);
        }
        var space = text.IndexOf(' ');
        var verb = (space < 0 ? text : text[..space]).ToUpperInvariant();
        var rest = space < 0 ? "" : text[(space + 1)..];
        // RFC 5321 section 4.5.3.1.4: 512 octets with the CRLF; MAIL and RCPT grow by their parameters.
        var limit = verb is "MAIL" or "RCPT" ? commandLineLimit + extensionAllowance : commandLineLimit;
        if (line.Length + 2 > limit)
            return SmtpParseResult.Fail(SmtpSyntaxError.LineTooLong);
        return verb switch
        {
            "EHLO" => ParseHello(rest, d => new EhloCommand(d)),
            "HELO" => ParseHello(rest, d => new HeloCommand(d)),
            "MAIL" => ParseMail(rest),
            "RCPT" => ParseRcpt(rest),
            "DATA" => NoArguments(rest, DataCommand.Instance),
            "BDAT" => ParseBdat(rest),
            "RSET" => NoArguments(rest, RsetCommand.Instance),
            "NOOP" => SmtpParseResult.Ok(NoopCommand.Instance), // RFC 5321 4.1.1.9: a string argument is ignored
            "QUIT" => NoArguments(rest, QuitCommand.Instance),
            "STARTTLS" => NoArguments(rest, StartTlsCommand.Instance),
            "AUTH" => ParseAuth(rest),
            "HELP" => SmtpParseResult.Ok(new HelpCommand(rest.Trim())),
            "VRFY" => rest.Trim().Length == 0
                ? SmtpParseResult.Fail(SmtpSyntaxError.BadSyntax, "Syntax: VRFY address")
                : SmtpParseResult.Ok(new VrfyCommand(rest.Trim())),
            _ => SmtpParseResult.Fail(SmtpSyntaxError.UnknownCommand),
        };
    }

    /// <summary><c>AUTH mechanism [initial-response]</c> (RFC 4954 section 4).</summary>
    private static SmtpParseResult ParseAuth(string rest)
    {
        var parts = rest.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length is 1 or 2 && parts[0].All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')
            ? SmtpParseResult.Ok(new AuthCommand(parts[0].ToUpperInvariant(), parts.Length == 2 ? parts[1] : null))
            : SmtpParseResult.Fail(SmtpSyntaxError.BadSyntax, "Syntax: AUTH mechanism");
    }

    private static SmtpParseResult NoArguments(string rest, SmtpCommand command) =>
        rest.Trim().Length == 0 ? SmtpParseResult.Ok(command) : SmtpParseResult.Fail(SmtpSyntaxError.BadSyntax, $"Syntax: {command.Verb}");

    /// <summary>
    /// <c>ehlo = "EHLO" SP ( Domain / address-literal ) CRLF</c>. The argument is kept as given: a client
    /// that names itself wrongly is a policy matter (reject_invalid_helo_hostname), not a syntax error,
    /// but it must name something, and only printable text.
    /// </summary>
    private static SmtpParseResult ParseHello(string rest, Func<string, SmtpCommand> make)
    {
        var domain = rest.Trim();
        if (domain.Length == 0 || domain.Contains(' ') || domain.Any(char.IsControl))
            return SmtpParseResult.Fail(SmtpSyntaxError.BadSyntax, "Syntax: EHLO hostname");
        return SmtpParseResult.Ok(make(domain));
    }

    /// <summary><c>"MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF</c> (RFC 5321 section 4.1.1.2).</summary>
    private static SmtpParseResult ParseMail(string rest)
    {
        if (!TrySplitPath(rest, "FROM:", out var path, out var paramText))
            return SmtpParseResult.Fail(SmtpSyntaxError.BadSyntax, "Syntax: MAIL FROM:<address>");
        if (!TryParseParameters(paramText, out var parameters, out var bad))
            return SmtpParseResult.Fail(SmtpSyntaxError.BadSyntax, $"Bad parameter syntax: {bad}");

        long? size = null;
        var body = BodyType.SevenBit;
        var utf8 = false;
        var ret = DsnReturn.Unspecified;
        string? envId = null;
        foreach (var (key, value) in parameters)
        {
            switch (key)
            {
                case "SIZE" when value is not null && long.TryParse(value, out var s) && s >= 0:
                    size = s;
                    break;
                case "BODY" when value is not null && value.Equals("7BIT", StringComparison.OrdinalIgnoreCase):
                    body = BodyType.SevenBit;
                    break;
                case "BODY" when value is not null && value.Equals("8BITMIME", StringComparison.OrdinalIgnoreCase):
                    body = BodyType.EightBitMime;
                    break;
                case "SMTPUTF8" when value is null:
                    utf8 = true;
                    break;
                case "RET" when value is not null && value.Equals("FULL", StringComparison.OrdinalIgnoreCase):
                    ret = DsnReturn.Full;
                    break;
                case "RET" when value is not null && value.Equals("HDRS", StringComparison.OrdinalIgnoreCase):
                    ret = DsnReturn.Headers;
                    break;
                case "ENVID" when value is not null && Xtext.TryDecode(value, out var id) && id.Length <= 100:
                    envId = id;
                    break;
                case "AUTH" when value is not null && Xtext.TryDecode(value, out _):
                    // RFC 4954 section 5: who submitted the message, as a relaying MTA says; the engine trusts no
                    // client's word for it and takes it as AUTH=<> (Postfix does the same without smtpd_sasl_authenticated_header).
                    break;
                case "SIZE" or "BODY" or "SMTPUTF8" or "RET" or "ENVID" or "AUTH":
                    return SmtpParseResult.Fail(SmtpSyntaxError.BadParameter, $"Bad {key} parameter");
                default:
                    return SmtpParseResult.Fail(SmtpSyntaxError.UnknownParameter, $"Unsupported option: {key}");
            }
        }
        if (path == "<>")
            return SmtpParseResult.Ok(new MailCommand(EmailAddress.Null, new MailParameters(size, body, utf8, ret, envId)));
        var address = AddressParser.ParsePath(path);
        if (address is null)
            return SmtpParseResult.Fail(SmtpSyntaxError.BadAddress, $"{path}: Sender address syntax error");
        if (address.IsInternational && !utf8)
            return SmtpParseResult.Fail(SmtpSyntaxError.NeedsSmtpUtf8);
        if (address.Domain.Length == 0)
            return SmtpParseResult.Fail(SmtpSyntaxError.BadAddress, $"{path}: Sender address must have a domain");
        return SmtpParseResult.Ok(new MailCommand(address, new MailParameters(size, body, utf8, ret, envId)));
    }

    /// <summary><c>"RCPT TO:" ( "&lt;Postmaster@" Domain "&gt;" / "&lt;Postmaster&gt;" / Forward-path ) [SP Rcpt-parameters]</c>.</summary>
    private static SmtpParseResult ParseRcpt(string rest)
    {
        if (!TrySplitPath(rest, "TO:", out var path, out var paramText) || path == "<>")
            return SmtpParseResult.Fail(SmtpSyntaxError.BadSyntax, "Syntax: RCPT TO:<address>");
        if (!TryParseParameters(paramText, out var parameters, out var bad))
            return SmtpParseResult.Fail(SmtpSyntaxError.BadSyntax, $"Bad parameter syntax: {bad}");

        var notify = DsnNotify.Unspecified;
        string? orcptType = null, orcpt = null;
        foreach (var (key, value) in parameters)
        {
            switch (key)
            {
                case "NOTIFY" when value is not null && TryParseNotify(value, out var n):
                    notify = n;
                    break;
                case "ORCPT" when value is not null && value.IndexOf(';') is > 0 and var semi
                                  && Xtext.TryDecode(value[(semi + 1)..], out var original) && original.Length > 0:
                    orcptType = value[..semi].ToLowerInvariant();
                    orcpt = original;
                    break;
                case "NOTIFY" or "ORCPT":
                    return SmtpParseResult.Fail(SmtpSyntaxError.BadParameter, $"Bad {key} parameter");
                default:
                    return SmtpParseResult.Fail(SmtpSyntaxError.UnknownParameter, $"Unsupported option: {key}");
            }
        }
        var address = AddressParser.ParsePath(path, allowBarePostmaster: true);
        if (address is null)
            return SmtpParseResult.Fail(SmtpSyntaxError.BadAddress, $"{path}: Recipient address syntax error");
        return SmtpParseResult.Ok(new RcptCommand(address, new RcptParameters(notify, orcptType, orcpt)));
    }

    /// <summary><c>bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CRLF</c> (RFC 3030 section 2).</summary>
    private static SmtpParseResult ParseBdat(string rest)
    {
        var parts = rest.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is < 1 or > 2 || parts[0].Length > 18 || !parts[0].All(char.IsAsciiDigit)
            || (parts.Length == 2 && !parts[1].Equals("LAST", StringComparison.OrdinalIgnoreCase)))
            return SmtpParseResult.Fail(SmtpSyntaxError.BadSyntax, "Syntax: BDAT size [LAST]");
        return SmtpParseResult.Ok(new BdatCommand(long.Parse(parts[0]), parts.Length == 2));
    }

    /// <summary>
    /// Splits "FROM:&lt;path&gt; params". A space after the colon and a path without angle brackets are
    /// tolerated, as Postfix does with strict_rfc821_envelopes = no.
    /// </summary>
    private static bool TrySplitPath(string rest, string keyword, out string path, out string parameters)
    {
        path = parameters = "";
        if (!rest.StartsWith(keyword, StringComparison.OrdinalIgnoreCase))
            return false;
        var s = rest[keyword.Length..].TrimStart(' ');
        if (s.Length == 0)
            return false;
        int end;
        if (s[0] == '<')
        {
            end = FindPathEnd(s);
            if (end < 0)
                return false;
            end++;
        }
        else
        {
            end = s.IndexOf(' ');
            if (end < 0)
                end = s.Length;
            path = "<" + s[..end] + ">";
            parameters = s[end..].Trim(' ');
            return true;
        }
        path = s[..end];
        parameters = s[end..];
        if (parameters.Length > 0 && parameters[0] != ' ')
            return false;
        parameters = parameters.Trim(' ');
        return true;
    }

    /// <summary>The index of the '&gt;' that closes a path, skipping quoted strings.</summary>
    private static int FindPathEnd(string s)
    {
        var quoted = false;
        for (var i = 1; i < s.Length; i++)
        {
            var c = s[i];
            if (quoted && c == '\\')
                i++;
            else if (c == '"')
                quoted = !quoted;
            else if (!quoted && c == '>')
                return i;
        }
        return -1;
    }

    /// <summary><c>esmtp-param = esmtp-keyword ["=" esmtp-value]</c> (RFC 5321 section 4.1.2).</summary>
    private static bool TryParseParameters(string text, out List<(string Key, string? Value)> parameters, out string bad)
    {
        parameters = [];
        bad = "";
        foreach (var item in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = item.IndexOf('=');
            var key = eq < 0 ? item : item[..eq];
            var value = eq < 0 ? null : item[(eq + 1)..];
            if (key.Length == 0 || !char.IsAsciiLetterOrDigit(key[0]) || !key.All(c => char.IsAsciiLetterOrDigit(c) || c == '-')
                || (value is not null && (value.Length == 0 || value.Any(c => c < 33 || c == '=' || c == 127))))
            {
                bad = item;
                return false;
            }
            if (parameters.Exists(p => p.Key.Equals(key, StringComparison.OrdinalIgnoreCase)))
            {
                bad = item;
                return false;
            }
            parameters.Add((key.ToUpperInvariant(), value));
        }
        return true;
    }

    private static bool TryParseNotify(string value, out DsnNotify notify)
    {
        notify = DsnNotify.Unspecified;
        foreach (var part in value.Split(','))
        {
            notify |= part.ToUpperInvariant() switch
            {
                "NEVER" => DsnNotify.Never,
                "SUCCESS" => DsnNotify.Success,
                "FAILURE" => DsnNotify.Failure,
                "DELAY" => DsnNotify.Delay,
                _ => (DsnNotify)(-1),
            };
            if ((int)notify < 0)
                return false;
        }
        // RFC 3461 section 4.1: NEVER must not be combined with anything else.
        return notify != DsnNotify.Unspecified && (!notify.HasFlag(DsnNotify.Never) || notify == DsnNotify.Never);
    }
}
