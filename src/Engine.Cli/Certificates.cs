using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Engine.Cli;

/// <summary>enginectl's side of HTTPS: the operator's client certificate, and trust in the engine's CA.</summary>
public static class Certificates
{
    /// <summary>The client certificate of PEM files, with its key; null when none is given.</summary>
    public static X509Certificate2? Client(string? certFile, string? keyFile)
    {
        if (certFile is null || keyFile is null)
            return null;
        try
        {
            using var pem = X509Certificate2.CreateFromPemFile(certFile, keyFile);
            // A key read from PEM is ephemeral; TLS wants it exportable or persisted, so it goes through PKCS#12 once.
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }
        catch (Exception e) when (e is IOException or CryptographicException or UnauthorizedAccessException or ArgumentException)
        {
            throw new CliException(ExitCodes.Usage, $"cannot read the client certificate: {e.Message}");
        }
    }

    /// <summary>The CA certificates of a PEM file; null when none is given.</summary>
    public static X509Certificate2Collection? Authority(string? caFile)
    {
        if (caFile is null)
            return null;
        try
        {
            var authority = new X509Certificate2Collection();
            authority.ImportFromPemFile(caFile);
            return authority.Count > 0 ? authority : throw new CliException(ExitCodes.Usage, $"no certificate in {caFile}");
        }
        catch (Exception e) when (e is IOException or CryptographicException or UnauthorizedAccessException)
        {
            throw new CliException(ExitCodes.Usage, $"cannot read the CA: {e.Message}");
        }
    }

    /// <summary>The server's certificate names the host asked for and chains to <paramref name="authority"/> (and no other root), through the intermediates it sent.</summary>
    public static bool ChainsTo(X509Certificate? server, X509Chain? sent, SslPolicyErrors errors, X509Certificate2Collection authority)
    {
        if (server is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
            return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authority);
        foreach (var element in sent?.ChainElements ?? Enumerable.Empty<X509ChainElement>())
            chain.ChainPolicy.ExtraStore.Add(element.Certificate); // the intermediates the engine sent
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var certificate = X509CertificateLoader.LoadCertificate(server.GetRawCertData());
        return chain.Build(certificate);
    }
}
