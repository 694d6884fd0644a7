using System.Security.Cryptography;
using System.Text;

namespace Engine.Primitives;

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
        var salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, algorithm, Size(hash));
        var clientKey = Hmac(hash, salted, "Client Key"u8.ToArray());
        return new ScramCredentials(iterations, salt, Hash(hash, clientKey), Hmac(hash, salted, "Server Key"u8.ToArray()));
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

    public static int Size(ScramHash hash) => hash == ScramHash.Sha1 ? 20 : 32;

    public static byte[] Hmac(ScramHash hash, byte[] key, byte[] data) =>
        hash == ScramHash.Sha1 ? HMACSHA1.HashData(key, data) : HMACSHA256.HashData(key, data);

    public static byte[] Hash(ScramHash hash, byte[] data) => hash == ScramHash.Sha1 ? SHA1.HashData(data) : SHA256.HashData(data);
}
