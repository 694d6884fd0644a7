using Engine.Primitives;

namespace Engine.Protocols.Sasl;

/// <summary>What a SASL exchange (RFC 4422) needs next, as the server sees it.</summary>
public abstract record SaslStep
{
    /// <summary>Send this challenge ("+ base64" in IMAP and POP3, "334 base64" in SMTP) and read the client's response.</summary>
    public sealed record Challenge(byte[] Data) : SaslStep;

    /// <summary>PLAIN and LOGIN: the client sent a password; the caller checks it (and that the user may act as the authorization id).</summary>
    public sealed record Verify(string User, string Password, string? AuthorizationId) : SaslStep;

    /// <summary>
    /// The mechanism proved the client knows the password (SCRAM). <paramref name="Final"/>, when set, goes to the
    /// client as a last challenge whose (empty) response completes the exchange (RFC 4954 section 4, RFC 3501 section 6.2.2).
    /// </summary>
    public sealed record Success(string User, byte[]? Final) : SaslStep;

    /// <summary>
    /// The exchange failed: a malformed message, or a proof that does not match. The reason is for the log, never
    /// the client; <paramref name="User"/> is the account tried, when the exchange got as far as naming it.
    /// </summary>
    public sealed record Failure(string Reason, string? User = null) : SaslStep;
}

/// <summary>The server side of one SASL mechanism for one exchange; a new one per AUTHENTICATE.</summary>
public interface ISaslServer
{
    /// <summary>The mechanism's name as offered ("PLAIN", "SCRAM-SHA-256").</summary>
    string Name { get; }

    /// <summary>The first step: with the client's initial response (SASL-IR, RFC 4959; "=" is an empty one), or null without.</summary>
    SaslStep Start(byte[]? initialResponse);

    /// <summary>The client's response to the last challenge.</summary>
    SaslStep Next(byte[] response);
}

/// <summary>The mechanisms a server offers, by name, and the exchanges they start.</summary>
public sealed class SaslMechanisms(IReadOnlyList<string> names, ISaslKeys keys, string hostname)
{
    /// <summary>Every mechanism this code knows, strongest first.</summary>
    public static readonly IReadOnlyList<string> Known = ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "LOGIN", "CRAM-MD5"];

    /// <summary>What engine.auth.mechanisms offers unless set: all but CRAM-MD5.</summary>
    public static readonly IReadOnlyList<string> Defaults = ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "LOGIN"];

    /// <summary>The names configured (engine.auth.mechanisms), upper-cased; an unknown one is an error.</summary>
    public static IReadOnlyList<string> Validate(IEnumerable<string> names) => names.Select(n => n.ToUpperInvariant()).Select(n =>
        Known.Contains(n) ? n : throw new ArgumentException($"unknown SASL mechanism '{n}' (known: {string.Join(", ", Known)})")).Distinct().ToArray();

    /// <summary>A SASL response as the protocols carry it: base64, with "=" for an empty one (RFC 4959, RFC 4954).</summary>
    public static bool TryDecode(string text, out byte[] bytes)
    {
        try
        {
            bytes = text == "=" ? [] : Convert.FromBase64String(text);
            return true;
        }
        catch (FormatException)
        {
            bytes = [];
            return false;
        }
    }

    /// <summary>The offered names, in the order given.</summary>
    public IReadOnlyList<string> Names { get; } = names;

    /// <summary>A new exchange for <paramref name="name"/> (any case), or null when it is not offered.</summary>
    public ISaslServer? Start(string name)
    {
        var offered = Names.FirstOrDefault(n => n.Equals(name, StringComparison.OrdinalIgnoreCase));
        return offered switch
        {
            "PLAIN" => new PlainServer(),
            "LOGIN" => new LoginServer(),
            "SCRAM-SHA-1" => new ScramServer(ScramHash.Sha1, user => keys.Scram(user, ScramHash.Sha1)),
            "SCRAM-SHA-256" => new ScramServer(ScramHash.Sha256, user => keys.Scram(user, ScramHash.Sha256)),
            "CRAM-MD5" => new CramMd5Server(keys.CramMd5, hostname),
            _ => null,
        };
    }
}

/// <summary>No keys for anyone: only the password mechanisms (PLAIN, LOGIN) can succeed.</summary>
public sealed class NoSaslKeys : ISaslKeys
{
    public static readonly NoSaslKeys Instance = new();

    public ScramCredentials? Scram(string user, ScramHash hash) => null;

    public CramMd5Key? CramMd5(string user) => null;
}
