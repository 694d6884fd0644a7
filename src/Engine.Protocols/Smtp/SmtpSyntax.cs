using Engine.Primitives;

namespace Engine.Protocols.Smtp;

/// <summary>Every way a command line can be refused, each mapped to one reply by <see cref="SmtpSyntax.Reply"/>.</summary>
public enum SmtpSyntaxError
{
    None,
    UnknownCommand,
    LineTooLong,
    BadSyntax,
    BadAddress,
    BadParameter,
    UnknownParameter,
    NeedsSmtpUtf8,
    BadEncoding,
}

public static class SmtpSyntax
{
    /// <summary>The reply for a refused command line (RFC 5321 section 4.2.4; RFC 3463 codes).</summary>
    public static SmtpReply Reply(SmtpSyntaxError error, string? detail = null) => error switch
    {
        SmtpSyntaxError.UnknownCommand => new SmtpReply(502, "5.5.2", "Error: command not recognized"),
        SmtpSyntaxError.LineTooLong => new SmtpReply(500, "5.5.2", "Error: line too long"),
        SmtpSyntaxError.BadSyntax => new SmtpReply(501, "5.5.4", detail ?? "Syntax error in parameters or arguments"),
        SmtpSyntaxError.BadAddress => new SmtpReply(501, "5.1.3", detail ?? "Bad address syntax"),
        SmtpSyntaxError.BadParameter => new SmtpReply(501, "5.5.4", detail ?? "Bad parameter value"),
        // RFC 5321 section 4.1.1.11: an unrecognized parameter gets 555.
        SmtpSyntaxError.UnknownParameter => new SmtpReply(555, "5.5.4", detail ?? "Unsupported option"),
        // RFC 6531 section 3.5: a non-ASCII address without SMTPUTF8 is refused with 553 5.6.7.
        SmtpSyntaxError.NeedsSmtpUtf8 => new SmtpReply(553, "5.6.7", "Non-ASCII address requires the SMTPUTF8 parameter"),
        SmtpSyntaxError.BadEncoding => new SmtpReply(501, "5.5.2", "Error: command is not valid UTF-8"),
        _ => throw new ArgumentOutOfRangeException(nameof(error), error, null),
    };
}
