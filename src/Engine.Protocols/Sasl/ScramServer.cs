using System.Security.Cryptography;
using System.Text;

namespace Engine.Protocols.Sasl;

public enum ScramHash
{
    Sha1,
    Sha256,
}

/// <summary>
/// What a server keeps to check SCRAM (RFC 5802 section 3) without the password: the salt and iteration count of
/// SaltedPassword = PBKDF2(password, salt, i), StoredKey = H(HMAC(SaltedPassword, "Client Key")) and
/// ServerKey = HMAC(SaltedPassword, "Server Key"). Written as Dovecot writes them:
/// "{SCRAM-SHA-256}iterations,salt,storedkey,serverkey" with base64 values.
/// </summary>
public sealed record ScramCredentials(int Iterations, byte[] Salt, byte[] StoredKey, byte[] ServerKey)
{
    public static ScramCredentials Derive(string password, ScramHash hash, int iterations = 4096, byte[]? salt = null)
    {
        salt ??= RandomNumberGenerator.GetBytes(16);
        var algorithm = hash == ScramHash.Sha1 ? HashAlgorithmName.SHA1 : HashAlgorithmName.SHA256;
        var salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, algorithm, ScramServer.Size(hash));
        var clientKey = ScramServer.Hmac(hash, salted, "Client Key"u8.ToArray());
        return new ScramCredentials(iterations, salt, ScramServer.Hash(hash, clientKey), ScramServer.Hmac(hash, salted, "Server Key"u8.ToArray()));
    }

    public static string SchemeOf(ScramHash hash) => hash == ScramHash.Sha1 ? "{SCRAM-SHA-1}" : "{SCRAM-SHA-256}";

    public string Format(ScramHash hash) =>
        $"{SchemeOf(hash)}{Iterations},{Convert.ToBase64String(Salt)},{Convert.ToBase64String(StoredKey)},{Convert.ToBase64String(ServerKey)}";

    /// <summary>Reads <see cref="Format"/>'s text for <paramref name="hash"/>; null when it is not that.</summary>
    public static ScramCredentials? Parse(string? text, ScramHash hash)
    {
        var scheme = SchemeOf(hash);
        if (text is null || !text.StartsWith(scheme, StringComparison.Ordinal))
            return null;
        var parts = text[scheme.Length..].Split(',');
        try
        {
            return parts.Length == 4 && int.TryParse(parts[0], out var iterations) && iterations > 0
                ? new ScramCredentials(iterations, Convert.FromBase64String(parts[1]), Convert.FromBase64String(parts[2]), Convert.FromBase64String(parts[3]))
                : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}

/// <summary>
/// SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677) without channel binding ("n" or "y" GS2 flags; "p" is
/// refused, as the -PLUS variants are not offered). An unknown user is answered with a salt made from the name,
/// so the exchange looks the same until its proof fails and does not tell which users exist.
/// </summary>
public sealed class ScramServer(ScramHash hash, Func<string, ScramCredentials?> credentials, Func<string>? serverNonce = null) : ISaslServer
{
    private static readonly byte[] UnknownUserKey = RandomNumberGenerator.GetBytes(32);
    private string? _user;
    private string? _gs2Header;
    private string? _clientFirstBare;
    private string? _serverFirst;
    private string? _nonce;
    private ScramCredentials? _credentials;
    private byte[]? _serverSignature;

    public string Name => hash == ScramHash.Sha1 ? "SCRAM-SHA-1" : "SCRAM-SHA-256";

    public SaslStep Start(byte[]? initialResponse) => initialResponse is null ? new SaslStep.Challenge([]) : Next(initialResponse);

    public SaslStep Next(byte[] response)
    {
        string text;
        try
        {
            text = new UTF8Encoding(false, true).GetString(response);
        }
        catch (DecoderFallbackException)
        {
            return new SaslStep.Failure($"{Name}: not UTF-8");
        }
        if (_serverSignature is not null)
            return text.Length == 0 ? new SaslStep.Success(_user!, null) : new SaslStep.Failure($"{Name}: data after the server's final message");
        return _serverFirst is null ? ClientFirst(text) : ClientFinal(text);
    }

    /// <summary>gs2-header client-first-bare: "n,[a=authzid]," then "n=user,r=nonce[,extensions]".</summary>
    private SaslStep ClientFirst(string text)
    {
        if (text.Length < 3 || text[0] is not ('n' or 'y') || text[1] != ',')
            return new SaslStep.Failure($"{Name}: channel binding is not supported, or a malformed GS2 header");
        var comma = text.IndexOf(',', 2);
        if (comma < 0 || (comma > 2 && !text[2..comma].StartsWith("a=", StringComparison.Ordinal)))
            return new SaslStep.Failure($"{Name}: malformed GS2 header");
        _gs2Header = text[..(comma + 1)];
        _clientFirstBare = text[(comma + 1)..];
        var attributes = _clientFirstBare.Split(',');
        if (attributes.Length < 2 || !attributes[0].StartsWith("n=", StringComparison.Ordinal) || !attributes[1].StartsWith("r=", StringComparison.Ordinal)
            || attributes[1].Length < 3 || attributes.Skip(2).Any(a => a.StartsWith("m=", StringComparison.Ordinal)))
            return new SaslStep.Failure($"{Name}: malformed client-first-message");
        var user = Unescape(attributes[0][2..]);
        if (user is null || user.Length == 0)
            return new SaslStep.Failure($"{Name}: malformed user name");
        _user = user;
        _credentials = credentials(user);
        var salt = _credentials?.Salt ?? Hmac(ScramHash.Sha256, UnknownUserKey, Encoding.UTF8.GetBytes(user))[..16];
        var iterations = _credentials?.Iterations ?? 4096;
        _nonce = attributes[1][2..] + (serverNonce?.Invoke() ?? Convert.ToBase64String(RandomNumberGenerator.GetBytes(18)));
        _serverFirst = $"r={_nonce},s={Convert.ToBase64String(salt)},i={iterations}";
        return new SaslStep.Challenge(Encoding.UTF8.GetBytes(_serverFirst));
    }

    /// <summary>"c=base64(gs2-header),r=nonce[,extensions],p=proof".</summary>
    private SaslStep ClientFinal(string text)
    {
        var proofAt = text.LastIndexOf(",p=", StringComparison.Ordinal);
        if (proofAt < 0)
            return new SaslStep.Failure($"{Name}: no proof");
        var withoutProof = text[..proofAt];
        var attributes = withoutProof.Split(',');
        if (attributes.Length < 2 || attributes[0] != "c=" + Convert.ToBase64String(Encoding.UTF8.GetBytes(_gs2Header!)))
            return new SaslStep.Failure($"{Name}: channel binding data does not match the GS2 header");
        if (attributes[1] != "r=" + _nonce)
            return new SaslStep.Failure($"{Name}: the nonce does not match");
        byte[] proof;
        try
        {
            proof = Convert.FromBase64String(text[(proofAt + 3)..]);
        }
        catch (FormatException)
        {
            return new SaslStep.Failure($"{Name}: the proof is not base64");
        }
        if (_credentials is null)
            return new SaslStep.Failure($"{Name}: unknown user {_user}");
        var authMessage = Encoding.UTF8.GetBytes($"{_clientFirstBare},{_serverFirst},{withoutProof}");
        var clientSignature = Hmac(hash, _credentials.StoredKey, authMessage);
        if (proof.Length != clientSignature.Length)
            return new SaslStep.Failure($"{Name}: wrong proof length");
        var clientKey = new byte[proof.Length];
        for (var i = 0; i < proof.Length; i++)
            clientKey[i] = (byte)(proof[i] ^ clientSignature[i]);
        if (!CryptographicOperations.FixedTimeEquals(Hash(hash, clientKey), _credentials.StoredKey))
            return new SaslStep.Failure($"{Name}: wrong password for {_user}");
        _serverSignature = Hmac(hash, _credentials.ServerKey, authMessage);
        return new SaslStep.Success(_user!, Encoding.UTF8.GetBytes("v=" + Convert.ToBase64String(_serverSignature)));
    }

    /// <summary>saslname: "=2C" is ',' and "=3D" is '='; any other '=' is malformed (null).</summary>
    private static string? Unescape(string name)
    {
        var result = new StringBuilder(name.Length);
        for (var i = 0; i < name.Length; i++)
        {
            if (name[i] != '=')
            {
                result.Append(name[i]);
                continue;
            }
            if (i + 3 > name.Length)
                return null;
            var code = name.Substring(i, 3);
            if (code == "=2C")
                result.Append(',');
            else if (code == "=3D")
                result.Append('=');
            else
                return null;
            i += 2;
        }
        return result.ToString();
    }

    internal static int Size(ScramHash hash) => hash == ScramHash.Sha1 ? 20 : 32;

    internal static byte[] Hmac(ScramHash hash, byte[] key, byte[] data) =>
        hash == ScramHash.Sha1 ? HMACSHA1.HashData(key, data) : HMACSHA256.HashData(key, data);

    internal static byte[] Hash(ScramHash hash, byte[] data) => hash == ScramHash.Sha1 ? SHA1.HashData(data) : SHA256.HashData(data);
}
