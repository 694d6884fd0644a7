namespace Engine.Primitives;

/// <summary>
/// The keys the challenge-response SASL mechanisms check a client against (SCRAM, CRAM-MD5), of an enabled
/// user; null for an unknown or disabled user, or one without such a key.
/// </summary>
public interface ISaslKeys
{
    ScramCredentials? Scram(string user, ScramHash hash);

    CramMd5Key? CramMd5(string user);
}
