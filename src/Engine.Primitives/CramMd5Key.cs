using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;

namespace Engine.Primitives;

/// <summary>
/// What a server keeps to check CRAM-MD5 (RFC 2195) without the password, as Dovecot keeps it: the MD5 states
/// after the HMAC key's outer and inner pad blocks (RFC 2104), so HMAC-MD5(password, challenge) is finished from
/// them. Written "{CRAM-MD5}" and 64 hex digits: the outer state's four words, then the inner's, little-endian.
/// Like the password itself, it lets whoever holds it pass CRAM-MD5, so it is kept only when the mechanism is on.
/// </summary>
public sealed record CramMd5Key(uint[] Outer, uint[] Inner)
{
    public const string Scheme = "{CRAM-MD5}";

    public static CramMd5Key Derive(string password)
    {
        var key = Encoding.UTF8.GetBytes(password);
        if (key.Length > 64)
            key = MD5.HashData(key);
        return new CramMd5Key(Pad(key, 0x5c), Pad(key, 0x36));
    }

    private static uint[] Pad(byte[] key, byte pad)
    {
        var block = new byte[64];
        for (var i = 0; i < 64; i++)
            block[i] = (byte)((i < key.Length ? key[i] : 0) ^ pad);
        var state = Md5.Initial.ToArray();
        Md5.Compress(state, block);
        return state;
    }

    public string Format()
    {
        var bytes = new byte[32];
        for (var i = 0; i < 4; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i * 4), Outer[i]);
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(16 + i * 4), Inner[i]);
        }
        return Scheme + Convert.ToHexStringLower(bytes);
    }

    /// <summary>Reads <see cref="Format"/>'s text; null when it is not that.</summary>
    public static CramMd5Key? Parse(string? text)
    {
        if (text is null || !text.StartsWith(Scheme, StringComparison.Ordinal) || text.Length != Scheme.Length + 64)
            return null;
        byte[] bytes;
        try
        {
            bytes = Convert.FromHexString(text.AsSpan(Scheme.Length));
        }
        catch (FormatException)
        {
            return null;
        }
        var outer = new uint[4];
        var inner = new uint[4];
        for (var i = 0; i < 4; i++)
        {
            outer[i] = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(i * 4));
            inner[i] = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(16 + i * 4));
        }
        return new CramMd5Key(outer, inner);
    }

    /// <summary>HMAC-MD5(password, challenge), finished from the kept states.</summary>
    public byte[] Digest(ReadOnlySpan<byte> challenge) => Md5.Finish(Outer, Md5.Finish(Inner, challenge, 64), 64);

    /// <summary>MD5's compression function (RFC 1321 section 3.4), which .NET does not expose, and its padding.</summary>
    internal static class Md5
    {
        public static readonly uint[] Initial = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

        // T[i] = floor(2^32 * |sin(i + 1)|), and the rotations of each step.
        private static readonly uint[] T = Enumerable.Range(1, 64).Select(i => (uint)Math.Floor(Math.Abs(Math.Sin(i)) * 4294967296.0)).ToArray();

        private static readonly int[] Shifts =
        [
            7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
            4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
        ];

        public static void Compress(uint[] state, ReadOnlySpan<byte> block)
        {
            Span<uint> x = stackalloc uint[16];
            for (var i = 0; i < 16; i++)
                x[i] = BinaryPrimitives.ReadUInt32LittleEndian(block[(i * 4)..]);
            uint a = state[0], b = state[1], c = state[2], d = state[3];
            for (var i = 0; i < 64; i++)
            {
                var (f, k) = (i / 16) switch
                {
                    0 => ((b & c) | (~b & d), i),
                    1 => ((b & d) | (c & ~d), (5 * i + 1) % 16),
                    2 => (b ^ c ^ d, (3 * i + 5) % 16),
                    _ => (c ^ (b | ~d), 7 * i % 16),
                };
                (a, b, c, d) = (d, b + BitOperations.RotateLeft(a + f + x[k] + T[i], Shifts[i]), b, c);
            }
            state[0] += a;
            state[1] += b;
            state[2] += c;
            state[3] += d;
        }

        /// <summary>The digest of <paramref name="data"/> hashed on from <paramref name="state"/>, reached after <paramref name="before"/> bytes.</summary>
        public static byte[] Finish(uint[] state, ReadOnlySpan<byte> data, long before)
        {
            var s = state.ToArray();
            var padded = new byte[((data.Length + 8) / 64 + 1) * 64];
            data.CopyTo(padded);
            padded[data.Length] = 0x80;
            BinaryPrimitives.WriteUInt64LittleEndian(padded.AsSpan(padded.Length - 8), (ulong)(before + data.Length) * 8);
            for (var i = 0; i < padded.Length; i += 64)
                Compress(s, padded.AsSpan(i, 64));
            var digest = new byte[16];
            for (var i = 0; i < 4; i++)
                BinaryPrimitives.WriteUInt32LittleEndian(digest.AsSpan(i * 4), s[i]);
            return digest;
        }
    }
}
