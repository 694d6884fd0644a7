using System.Security.Cryptography;
using System.Text;

namespace Engine.Storage.Accounts;

/// <summary>
/// SHA-crypt, "$5$" (SHA-256) and "$6$" (SHA-512), as Ulrich Drepper specified it for glibc's crypt(3) and
/// Dovecot writes it as {SHA256-CRYPT} and {SHA512-CRYPT}: for verifying imported hashes only.
/// </summary>
internal static class ShaCrypt
{
    private const string Alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    private const int DefaultRounds = 5000;

    /// <summary>
    /// The longest password tried: the algorithm hashes the password repeated as many times as it is long, so a
    /// client-sized password would cost its square in memory and time.
    /// </summary>
    private const int MaxPassword = 256;

    /// <summary>Whether <paramref name="password"/> gives the hash of <paramref name="stored"/> ("$6$[rounds=N$]salt$hash").</summary>
    public static bool Verify(string password, string stored)
    {
        if (password.Length > MaxPassword)
            return false;
        var parts = stored.Split('$');
        if (parts.Length is < 4 or > 5 || parts[0].Length != 0 || parts[1] is not ("5" or "6"))
            return false;
        var sha512 = parts[1] == "6";
        var rounds = DefaultRounds;
        var at = 2;
        if (parts.Length == 5)
        {
            if (!parts[2].StartsWith("rounds=", StringComparison.Ordinal) || !int.TryParse(parts[2]["rounds=".Length..], out rounds))
                return false;
            rounds = Math.Clamp(rounds, 1000, 999_999_999);
            at = 3;
        }
        var salt = parts[at].Length > 16 ? parts[at][..16] : parts[at];
        var expected = Encoding.ASCII.GetBytes(parts[at + 1]);
        var actual = Encoding.ASCII.GetBytes(Hash(Encoding.UTF8.GetBytes(password), Encoding.UTF8.GetBytes(salt), rounds, sha512));
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    private static byte[] Digest(bool sha512, byte[] data) => sha512 ? SHA512.HashData(data) : SHA256.HashData(data);

    /// <summary>The hash part (after the last '$') for this password, salt and rounds.</summary>
    private static string Hash(byte[] password, byte[] salt, int rounds, bool sha512)
    {
        var size = sha512 ? 64 : 32;
        var b = Digest(sha512, [.. password, .. salt, .. password]);
        var a = new List<byte>(password.Length * 3 + salt.Length + size);
        a.AddRange(password);
        a.AddRange(salt);
        for (var left = password.Length; left > 0; left -= size)
            a.AddRange(b.AsSpan(0, Math.Min(size, left)).ToArray());
        for (var length = password.Length; length > 0; length >>= 1)
            a.AddRange((length & 1) != 0 ? b : password);
        var c = Digest(sha512, [.. a]);
        var dp = Digest(sha512, Repeat(password, password.Length));
        var p = Stretch(dp, password.Length);
        var ds = Digest(sha512, Repeat(salt, 16 + c[0]));
        var s = Stretch(ds, salt.Length);
        for (var i = 0; i < rounds; i++)
        {
            var round = new List<byte>(size * 2 + p.Length * 2 + s.Length);
            round.AddRange(i % 2 != 0 ? p : c);
            if (i % 3 != 0)
                round.AddRange(s);
            if (i % 7 != 0)
                round.AddRange(p);
            round.AddRange(i % 2 != 0 ? c : p);
            c = Digest(sha512, [.. round]);
        }
        return Encode(c, sha512);
    }

    private static byte[] Repeat(byte[] value, int times)
    {
        var result = new byte[value.Length * times];
        for (var i = 0; i < times; i++)
            value.CopyTo(result, i * value.Length);
        return result;
    }

    /// <summary>The digest repeated to <paramref name="length"/> octets.</summary>
    private static byte[] Stretch(byte[] digest, int length)
    {
        var result = new byte[length];
        for (var i = 0; i < length; i++)
            result[i] = digest[i % digest.Length];
        return result;
    }

    /// <summary>crypt's base64: groups of three octets in the spec's order, six bits at a time, lowest first.</summary>
    private static string Encode(byte[] c, bool sha512)
    {
        var text = new StringBuilder();
        void Group(int b2, int b1, int b0, int count)
        {
            var w = (b2 << 16) | (b1 << 8) | b0;
            for (var i = 0; i < count; i++, w >>= 6)
                text.Append(Alphabet[w & 0x3f]);
        }
        if (sha512)
        {
            for (var k = 0; k < 21; k++)
            {
                int x = c[k], y = c[k + 21], z = c[k + 42];
                switch (k % 3)
                {
                    case 0: Group(x, y, z, 4); break;
                    case 1: Group(y, z, x, 4); break;
                    default: Group(z, x, y, 4); break;
                }
            }
            Group(0, 0, c[63], 2);
        }
        else
        {
            for (var k = 0; k < 10; k++)
            {
                int x = c[k], y = c[k + 10], z = c[k + 20];
                switch (k % 3)
                {
                    case 0: Group(x, y, z, 4); break;
                    case 1: Group(z, x, y, 4); break;
                    default: Group(y, z, x, 4); break;
                }
            }
            Group(0, c[31], c[30], 3);
        }
        return text.ToString();
    }
}
