using System.Security.Cryptography;
using System.Text;
using Engine.Primitives;

namespace Engine.Protocols.Sasl;

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
            return text.Length == 0 ? new SaslStep.Success(_user!, null) : new SaslStep.Failure($"{Name}: data after the server's final message", _user);
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
        var salt = _credentials?.Salt ?? ScramCredentials.Hmac(ScramHash.Sha256, UnknownUserKey, Encoding.UTF8.GetBytes(user))[..16];
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
            return new SaslStep.Failure($"{Name}: no proof", _user);
        var withoutProof = text[..proofAt];
        var attributes = withoutProof.Split(',');
        if (attributes.Length < 2 || attributes[0] != "c=" + Convert.ToBase64String(Encoding.UTF8.GetBytes(_gs2Header!)))
            return new SaslStep.Failure($"{Name}: channel binding data does not match the GS2 header", _user);
        if (attributes[1] != "r=" + _nonce)
            return new SaslStep.Failure($"{Name}: the nonce does not match", _user);
        byte[] proof;
        try
        {
            proof = Convert.FromBase64String(text[(proofAt + 3)..]);
        }
        catch (FormatException)
        {
            return new SaslStep.Failure($"{Name}: the proof is not base64", _user);
        }
        if (_credentials is null)
            return new SaslStep.Failure($"{Name}: unknown user {_user}", _user);
        var authMessage = Encoding.UTF8.GetBytes($"{_clientFirstBare},{_serverFirst},{withoutProof}");
        var clientSignature = ScramCredentials.Hmac(hash, _credentials.StoredKey, authMessage);
        if (proof.Length != clientSignature.Length)
            return new SaslStep.Failure($"{Name}: a proof of another length", _user);
        var clientKey = new byte[proof.Length];
        for (var i = 0; i < proof.Length; i++)
            clientKey[i] = (byte)(proof[i] ^ clientSignature[i]);
        if (!CryptographicOperations.FixedTimeEquals(ScramCredentials.Hash(hash, clientKey), _credentials.StoredKey))
            return new SaslStep.Failure($"{Name}: proof mismatch for {_user}", _user);
        _serverSignature = ScramCredentials.Hmac(hash, _credentials.ServerKey, authMessage);
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
}
