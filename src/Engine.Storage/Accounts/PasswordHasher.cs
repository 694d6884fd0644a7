using System.Security.Cryptography;
using System.Text;
using Engine.Primitives;

namespace Engine.Storage.Accounts;

/// <summary>
/// A user's credentials in Dovecot's "{SCHEME}value" form, one or more separated by spaces: the first checks
/// passwords (PLAIN, LOGIN, USER/PASS), the SCRAM ones ("{SCRAM-SHA-256}i,salt,storedkey,serverkey") serve
/// SCRAM, which needs keys the password hash cannot give. New passwords get PBKDF2-HMAC-SHA256 with 600,000
/// iterations (OWASP's figure) and a 16-octet salt ("{PBKDF2-SHA256}$iterations$salt$hash" in base64) and
/// SCRAM-SHA-256 and SCRAM-SHA-1 keys of 4,096 iterations. Hashes in other schemes are kept as given (imported).
/// </summary>
public static class PasswordHasher
{
    private const string Scheme = "{PBKDF2-SHA256}";
    private const int Iterations = 600_000;

    public static string Hash(string password, int iterations = Iterations)
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, 32);
        return $"{Scheme}${iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}"
            + " " + ScramCredentials.Derive(password, ScramHash.Sha256).Format(ScramHash.Sha256)
            + " " + ScramCredentials.Derive(password, ScramHash.Sha1).Format(ScramHash.Sha1);
    }

    /// <summary>The SCRAM keys kept with the credentials, or null (the user cannot use that SCRAM mechanism).</summary>
    public static ScramCredentials? Scram(string stored, ScramHash hash) =>
        stored.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(part => ScramCredentials.Parse(part, hash)).FirstOrDefault(c => c is not null);

    /// <summary>True when the password matches a hash of this scheme; false for any other scheme.</summary>
    public static bool Verify(string password, string stored)
    {
        stored = stored.Split(' ', 2)[0];
        if (!stored.StartsWith(Scheme, StringComparison.Ordinal))
            return false;
        var parts = stored[Scheme.Length..].Split('$', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 3 || !int.TryParse(parts[0], out var iterations) || iterations < 1)
            return false;
        var salt = Convert.FromBase64String(parts[1]);
        var expected = Convert.FromBase64String(parts[2]);
        var actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    /// <summary>Whether a value from an import looks like a hash in "{SCHEME}" form (never store plain text).</summary>
    public static bool IsHash(string value) => value.Length > 2 && value[0] == '{' && value.IndexOf('}') > 1;
}
