using System.Security.Cryptography;
using System.Text;
using Engine.Primitives;

namespace Engine.Protocols.Sasl;

/// <summary>
/// CRAM-MD5 (RFC 2195), off unless configured: the server sends a challenge in msg-id form
/// ("&lt;random.time@host&gt;"), the client answers "user SP hex(HMAC-MD5(password, challenge))". It proves the
/// password without sending it, but the key it needs is password-equivalent and MD5 is weak, so the engine
/// offers it only where a site turns it on for old clients.
/// </summary>
public sealed class CramMd5Server(Func<string, CramMd5Key?> keys, string hostname, Func<string>? challenge = null) : ISaslServer
{
    private byte[]? _challenge;

    public string Name => "CRAM-MD5";

    public SaslStep Start(byte[]? initialResponse)
    {
        if (initialResponse is { Length: > 0 })
            return new SaslStep.Failure("CRAM-MD5: an initial response, where the server speaks first");
        _challenge = Encoding.ASCII.GetBytes(challenge?.Invoke()
            ?? $"<{RandomNumberGenerator.GetHexString(16, true)}.{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}@{hostname}>");
        return new SaslStep.Challenge(_challenge);
    }

    public SaslStep Next(byte[] response)
    {
        if (_challenge is null)
            return new SaslStep.Failure("CRAM-MD5: a response before the challenge");
        string text;
        try
        {
            text = new UTF8Encoding(false, true).GetString(response);
        }
        catch (DecoderFallbackException)
        {
            return new SaslStep.Failure("CRAM-MD5: not UTF-8");
        }
        var space = text.LastIndexOf(' ');
        if (space <= 0 || text.Length - space - 1 != 32)
            return new SaslStep.Failure("CRAM-MD5: not user SP digest");
        var user = text[..space];
        byte[] digest;
        try
        {
            digest = Convert.FromHexString(text.AsSpan(space + 1));
        }
        catch (FormatException)
        {
            return new SaslStep.Failure("CRAM-MD5: the digest is not hex", user);
        }
        var key = keys(user);
        if (key is null)
            return new SaslStep.Failure("CRAM-MD5: no such user, or no CRAM-MD5 key kept for it", user);
        return CryptographicOperations.FixedTimeEquals(key.Digest(_challenge), digest)
            ? new SaslStep.Success(user, null)
            : new SaslStep.Failure("CRAM-MD5: wrong digest", user);
    }
}
