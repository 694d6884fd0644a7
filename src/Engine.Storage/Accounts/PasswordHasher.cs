using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Engine.Primitives;

namespace Engine.Storage.Accounts;

/// <summary>The cost of an Argon2id hash: memory in KiB, passes, lanes.</summary>
public sealed record Argon2Cost(int MemoryKiB, int Iterations, int Parallelism)
{
    /// <summary>OWASP's first Argon2id setting: 19 MiB, two passes, one lane.</summary>
    public static readonly Argon2Cost Default = new(19 * 1024, 2, 1);
}

/// <summary>
/// A user's credentials in Dovecot's "{SCHEME}value" form, one or more separated by spaces: the first checks
/// passwords (PLAIN, LOGIN, USER/PASS), the SCRAM ones ("{SCRAM-SHA-256}i,salt,storedkey,serverkey") serve
/// SCRAM, which needs keys the password hash cannot give. New passwords get {ARGON2ID} (PHC string, as Dovecot
/// writes it) and SCRAM-SHA-256 and SCRAM-SHA-1 keys of 4,096 iterations. Imported hashes are verified in
/// Dovecot's schemes {ARGON2ID}, {SHA512-CRYPT}, {SHA256-CRYPT}, {BLF-CRYPT}, {PBKDF2}, {SSHA512}, and the
/// engine's earlier {PBKDF2-SHA256}; after a login with any of them but the default, <see cref="NeedsRehash"/>
/// says to hash the password again.
/// </summary>
public static class PasswordHasher
{
    /// <summary>New credentials: an Argon2id hash and SCRAM keys, and a CRAM-MD5 key when <paramref name="cramMd5"/> (the mechanism is on).</summary>
    public static string Hash(string password, Argon2Cost? cost = null, bool cramMd5 = false)
    {
        cost ??= Argon2Cost.Default;
        var salt = RandomNumberGenerator.GetBytes(16);
        var hash = Argon2(password, salt, cost, 32);
        return $"{{ARGON2ID}}$argon2id$v=19$m={cost.MemoryKiB},t={cost.Iterations},p={cost.Parallelism}${Phc(salt)}${Phc(hash)}"
            + " " + ScramCredentials.Derive(password, ScramHash.Sha256).Format(ScramHash.Sha256)
            + " " + ScramCredentials.Derive(password, ScramHash.Sha1).Format(ScramHash.Sha1)
            + (cramMd5 ? " " + CramMd5Key.Derive(password).Format() : "");
    }

    /// <summary>The CRAM-MD5 key kept with the credentials (or imported as them), or null.</summary>
    public static CramMd5Key? CramMd5(string stored) =>
        stored.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(CramMd5Key.Parse).FirstOrDefault(k => k is not null);

    /// <summary>The SCRAM keys kept with the credentials, or null (the user cannot use that SCRAM mechanism).</summary>
    public static ScramCredentials? Scram(string stored, ScramHash hash) =>
        stored.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(part => ScramCredentials.Parse(part, hash)).FirstOrDefault(c => c is not null);

    /// <summary>
    /// Whether credentials should be made again at the next login with the password: a scheme other than
    /// {ARGON2ID} (an import), no SCRAM keys, or no CRAM-MD5 key where <paramref name="cramMd5"/> wants one. An
    /// Argon2id hash of another cost is kept as it is.
    /// </summary>
    public static bool NeedsRehash(string stored, bool cramMd5 = false) =>
        Argon2Parameters(stored.Split(' ', 2)[0]) is null || Scram(stored, ScramHash.Sha256) is null || Scram(stored, ScramHash.Sha1) is null
        || (cramMd5 && CramMd5(stored) is null);

    /// <summary>A hash of no one's password, of the default cost: checked for unknown and disabled users.</summary>
    private static readonly Lazy<string> Decoy = new(() => Hash(Convert.ToBase64String(RandomNumberGenerator.GetBytes(24))).Split(' ')[0]);

    /// <summary>
    /// Whether <paramref name="password"/> is the user's, for an enabled user; an unknown or disabled user costs
    /// the same hash work (against a decoy), so the time of an answer does not tell which users exist.
    /// </summary>
    public static bool VerifyUser(UserEntry? user, string password)
    {
        if (user is { Enabled: true })
            return Verify(password, user.PasswordHash);
        Verify(password, Decoy.Value);
        return false;
    }

    /// <summary>True when the password matches the first credential; false for a scheme this code does not know (or "{LOCKED}").</summary>
    public static bool Verify(string password, string stored)
    {
        stored = stored.Split(' ', 2)[0];
        var close = stored.IndexOf('}');
        if (!stored.StartsWith('{') || close < 0)
            return false;
        var value = stored[(close + 1)..];
        try
        {
            return stored[..(close + 1)] switch
            {
                "{ARGON2ID}" => VerifyArgon2(password, stored),
                "{PBKDF2-SHA256}" => VerifyPbkdf2Sha256(password, value),
                "{SHA512-CRYPT}" or "{SHA256-CRYPT}" => ShaCrypt.Verify(password, value),
                "{BLF-CRYPT}" => BCrypt.Net.BCrypt.Verify(password, value),
                "{PBKDF2}" => VerifyDovecotPbkdf2(password, value),
                "{SSHA512}" => VerifySsha512(password, value),
                CramMd5Key.Scheme => CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(CramMd5Key.Derive(password).Format()),
                    Encoding.ASCII.GetBytes(CramMd5Key.Scheme + value.ToLowerInvariant())),
                _ => false,
            };
        }
        catch (Exception e) when (e is FormatException or ArgumentException or BCrypt.Net.SaltParseException or OverflowException)
        {
            return false; // a malformed stored value verifies nothing
        }
    }

    private static byte[] Argon2(string password, byte[] salt, Argon2Cost cost, int length)
    {
        using var argon2 = new Konscious.Security.Cryptography.Argon2id(Encoding.UTF8.GetBytes(password))
        {
            Salt = salt,
            MemorySize = cost.MemoryKiB,
            Iterations = cost.Iterations,
            DegreeOfParallelism = cost.Parallelism,
        };
        return argon2.GetBytes(length);
    }

    /// <summary>"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$salt$hash", base64 without padding.</summary>
    private static (Argon2Cost Cost, byte[] Salt, byte[] Hash)? Argon2Parameters(string stored)
    {
        if (!stored.StartsWith("{ARGON2ID}", StringComparison.Ordinal))
            return null;
        var parts = stored["{ARGON2ID}".Length..].Split('$');
        if (parts.Length != 6 || parts[1] != "argon2id" || parts[2] != "v=19")
            return null;
        var cost = new Dictionary<string, int>();
        foreach (var pair in parts[3].Split(',').Select(p => p.Split('=')))
        {
            if (pair.Length != 2 || !int.TryParse(pair[1], NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number < 1)
                return null;
            cost[pair[0]] = number;
        }
        if (!cost.TryGetValue("m", out var memory) || !cost.TryGetValue("t", out var passes) || !cost.TryGetValue("p", out var lanes))
            return null;
        try
        {
            return (new Argon2Cost(memory, passes, lanes), FromPhc(parts[4]), FromPhc(parts[5]));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static bool VerifyArgon2(string password, string stored) =>
        Argon2Parameters(stored) is { } p && CryptographicOperations.FixedTimeEquals(Argon2(password, p.Salt, p.Cost, p.Hash.Length), p.Hash);

    /// <summary>The engine's earlier scheme: "$iterations$salt$hash", base64, PBKDF2-HMAC-SHA256.</summary>
    private static bool VerifyPbkdf2Sha256(string password, string value)
    {
        var parts = value.Split('$', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 3 || !int.TryParse(parts[0], out var iterations) || iterations < 1)
            return false;
        var expected = Convert.FromBase64String(parts[2]);
        var actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), Convert.FromBase64String(parts[1]), iterations,
            HashAlgorithmName.SHA256, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    /// <summary>Dovecot's {PBKDF2}: "$1$salt$rounds$hex", PBKDF2-HMAC-SHA1 with the salt's text as octets.</summary>
    private static bool VerifyDovecotPbkdf2(string password, string value)
    {
        var parts = value.Split('$');
        if (parts.Length != 5 || parts[1] != "1" || !int.TryParse(parts[3], out var rounds) || rounds < 1)
            return false;
        var expected = Convert.FromHexString(parts[4]);
        var actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), Encoding.UTF8.GetBytes(parts[2]), rounds, HashAlgorithmName.SHA1,
            expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    /// <summary>{SSHA512}: base64 of SHA-512(password + salt) followed by the salt.</summary>
    private static bool VerifySsha512(string password, string value)
    {
        var bytes = Convert.FromBase64String(value);
        if (bytes.Length <= 64)
            return false;
        var salt = bytes[64..];
        return CryptographicOperations.FixedTimeEquals(SHA512.HashData([.. Encoding.UTF8.GetBytes(password), .. salt]), bytes.AsSpan(0, 64));
    }

    private static string Phc(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=');

    private static byte[] FromPhc(string text) => Convert.FromBase64String(text.PadRight(text.Length + (4 - text.Length % 4) % 4, '='));

    /// <summary>Whether a value from an import looks like a hash in "{SCHEME}" form (never store plain text).</summary>
    public static bool IsHash(string value) => value.Length > 2 && value[0] == '{' && value.IndexOf('}') > 1;
}
