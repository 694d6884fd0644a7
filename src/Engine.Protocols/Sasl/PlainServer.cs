using System.Text;

namespace Engine.Protocols.Sasl;

/// <summary>PLAIN (RFC 4616): one message, "authzid NUL authcid NUL passwd", in UTF-8.</summary>
public sealed class PlainServer : ISaslServer
{
    private static readonly UTF8Encoding Strict = new(false, true);

    public string Name => "PLAIN";

    public SaslStep Start(byte[]? initialResponse) => initialResponse is null ? new SaslStep.Challenge([]) : Next(initialResponse);

    public SaslStep Next(byte[] response)
    {
        var first = Array.IndexOf(response, (byte)0);
        var second = first < 0 ? -1 : Array.IndexOf(response, (byte)0, first + 1);
        if (second < 0 || Array.IndexOf(response, (byte)0, second + 1) >= 0)
            return new SaslStep.Failure("PLAIN: not authzid NUL authcid NUL passwd");
        try
        {
            var authzid = Strict.GetString(response, 0, first);
            var user = Strict.GetString(response, first + 1, second - first - 1);
            var password = Strict.GetString(response, second + 1, response.Length - second - 1);
            if (user.Length == 0 || password.Length == 0)
                return new SaslStep.Failure("PLAIN: empty user or password");
            return new SaslStep.Verify(user, password, authzid.Length == 0 ? null : authzid);
        }
        catch (DecoderFallbackException)
        {
            return new SaslStep.Failure("PLAIN: not UTF-8");
        }
    }
}

/// <summary>
/// LOGIN (draft-murchison-sasl-login, as Outlook and old clients speak it): "Username:" then "Password:" as
/// challenges, each answered with the value. An initial response is taken as the user name.
/// </summary>
public sealed class LoginServer : ISaslServer
{
    private string? _user;

    public string Name => "LOGIN";

    public SaslStep Start(byte[]? initialResponse) =>
        initialResponse is { Length: > 0 } ? Next(initialResponse) : new SaslStep.Challenge("Username:"u8.ToArray());

    public SaslStep Next(byte[] response)
    {
        var text = Encoding.UTF8.GetString(response);
        if (_user is null)
        {
            if (text.Length == 0)
                return new SaslStep.Failure("LOGIN: empty user");
            _user = text;
            return new SaslStep.Challenge("Password:"u8.ToArray());
        }
        return text.Length == 0 ? new SaslStep.Failure("LOGIN: empty password") : new SaslStep.Verify(_user, text, null);
    }
}
