using Engine.Primitives;

namespace Engine.Protocols.Smtp;

/// <summary>A parsed SMTP command (RFC 5321 section 4.1.1 and the extensions this server offers).</summary>
public abstract record SmtpCommand
{
    /// <summary>The verb in upper case, as counted in the disconnect log line.</summary>
    public abstract string Verb { get; }
}

public sealed record EhloCommand(string Domain) : SmtpCommand { public override string Verb => "EHLO"; }
public sealed record HeloCommand(string Domain) : SmtpCommand { public override string Verb => "HELO"; }
public sealed record MailCommand(EmailAddress From, MailParameters Parameters) : SmtpCommand { public override string Verb => "MAIL"; }
public sealed record RcptCommand(EmailAddress To, RcptParameters Parameters) : SmtpCommand { public override string Verb => "RCPT"; }
public sealed record DataCommand : SmtpCommand { public static readonly DataCommand Instance = new(); public override string Verb => "DATA"; }

/// <summary>RFC 3030: <c>BDAT chunk-size [LAST]</c>; <paramref name="Size"/> octets follow the line.</summary>
public sealed record BdatCommand(long Size, bool Last) : SmtpCommand { public override string Verb => "BDAT"; }
public sealed record RsetCommand : SmtpCommand { public static readonly RsetCommand Instance = new(); public override string Verb => "RSET"; }
public sealed record NoopCommand : SmtpCommand { public static readonly NoopCommand Instance = new(); public override string Verb => "NOOP"; }
public sealed record QuitCommand : SmtpCommand { public static readonly QuitCommand Instance = new(); public override string Verb => "QUIT"; }
public sealed record HelpCommand(string Topic) : SmtpCommand { public override string Verb => "HELP"; }
public sealed record VrfyCommand(string Argument) : SmtpCommand { public override string Verb => "VRFY"; }

/// <summary>RFC 4954: <c>AUTH mechanism [initial-response]</c>; the response is base64, "=" for an empty one.</summary>
public sealed record AuthCommand(string Mechanism, string? InitialResponse) : SmtpCommand { public override string Verb => "AUTH"; }

/// <summary>RFC 3207: the client asks for TLS; what it sent after this line, before the handshake, is dropped.</summary>
public sealed record StartTlsCommand : SmtpCommand { public static readonly StartTlsCommand Instance = new(); public override string Verb => "STARTTLS"; }

/// <summary>The parameters of MAIL FROM that this server understands.</summary>
public sealed record MailParameters(long? Size, BodyType Body, bool SmtpUtf8, DsnReturn Ret, string? EnvId)
{
    public static readonly MailParameters None = new(null, BodyType.SevenBit, false, DsnReturn.Unspecified, null);
}

/// <summary>The parameters of RCPT TO: DSN's NOTIFY and ORCPT (RFC 3461 sections 4.1 and 4.2).</summary>
public sealed record RcptParameters(DsnNotify Notify, string? OrcptType, string? Orcpt)
{
    public static readonly RcptParameters None = new(DsnNotify.Unspecified, null, null);
}
