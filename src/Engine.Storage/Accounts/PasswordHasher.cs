using System.Security.Cryptography;
using System.Text;

namespace Engine.Storage.Accounts;

/// <summary>
/// Password hashes in Dovecot's "{SCHEME}value" form. New hashes are PBKDF2-HMAC-SHA256 with 600,000
/// iterations (OWASP's figure) and a 16-octet salt: "{PBKDF2-SHA256}$iterations$salt$hash" in base64.
/// Argon2id and Dovecot's other schemes come with the security issue; hashes in other schemes are kept
/// as given (imported) and verified once that issue lands.
/// </summary>
public static class PasswordHasher
{
    private const string Scheme = "{PBKDF2-SHA256}";
    private const int Iterations = 600_000;

    public static string Hash(string password, int iterations = Iterations)
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, 32);
        return $"{Scheme}${iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}";
    }

    /// <summary>True when the password matches a hash of this scheme; false for any other scheme.</summary>
    public static bool Verify(string password, string stored)
    {
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
