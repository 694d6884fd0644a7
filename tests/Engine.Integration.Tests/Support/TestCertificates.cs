using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Engine.Integration.Tests.Support;

/// <summary>
/// A test certificate authority and the server certificates it issues, written as the PEM files the engine
/// reads (engine.tls.certificates), and the client-side check that trusts this CA only.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private readonly ECDsa _caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public TestCertificates(string directory)
    {
        Directory = directory;
        System.IO.Directory.CreateDirectory(directory);
        var request = new CertificateRequest("CN=Engine Test CA", _caKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        Authority = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        AuthorityFile = Path.Combine(directory, "ca.pem");
        File.WriteAllText(AuthorityFile, Authority.ExportCertificatePem());
    }

    public string Directory { get; }

    public X509Certificate2 Authority { get; }

    /// <summary>The CA's certificate as a PEM file (for openssl -CAfile and Python's ssl).</summary>
    public string AuthorityFile { get; }

    /// <summary>
    /// Issues a server certificate for <paramref name="name"/> (and 127.0.0.1), or with <paramref name="client"/> one for
    /// client authentication; its chain and key files, and the HOCON entry for them.
    /// </summary>
    public (string Chain, string Key, string Setting) Issue(string name, string file, bool client = false)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(name);
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(client ? "1.3.6.1.5.5.7.3.2" : "1.3.6.1.5.5.7.3.1")], false));
        var serial = RandomNumberGenerator.GetBytes(12);
        using var certificate = request.Create(Authority, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(30), serial);
        var chain = Path.Combine(Directory, file + ".pem");
        var keyFile = Path.Combine(Directory, file + ".key");
        File.WriteAllText(chain, certificate.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        return (chain, keyFile, $"{{ chain = \"{chain}\", key = \"{keyFile}\" }}");
    }

    /// <summary>The certificate a TLS-from-the-first-byte port shows a client asking for <paramref name="serverName"/> (taken, not checked).</summary>
    public static async Task<X509Certificate2> ServedAsync(int port, string serverName, CancellationToken cancel)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port, cancel);
        await using var tls = new SslStream(client.GetStream(), false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = serverName }, cancel);
        return X509CertificateLoader.LoadCertificate(tls.RemoteCertificate!.GetRawCertData());
    }

    /// <summary>The engine setting for these certificates, the first the default.</summary>
    public static string Setting(params string[] entries) => $"engine.tls.certificates = [{string.Join(", ", entries)}]";

    /// <summary>A client's check: the chain ends at this CA (and no other), and the name matches.</summary>
    public bool Validate(object? sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
            return false;
        using var verify = new X509Chain();
        verify.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        verify.ChainPolicy.CustomTrustStore.Add(Authority);
        verify.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return verify.Build(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    }

    /// <summary>Sends <paramref name="injected"/> in one write, waits for <paramref name="ready"/>, does the handshake, sends <paramref name="after"/>, returns the lines up to one starting with <paramref name="until"/>.</summary>
    public async Task<List<string>> AfterInjectionAsync(int port, string injected, string ready, string after, string until)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port, TestContext.Current.CancellationToken);
        var plain = client.GetStream();
        await plain.WriteAsync(Encoding.ASCII.GetBytes(injected), TestContext.Current.CancellationToken);
        // read byte by byte so nothing of the TLS stream is taken into a reader's buffer
        async Task<string> ReadLineAsync(Stream stream)
        {
            var line = new StringBuilder();
            var one = new byte[1];
            while (await stream.ReadAsync(one, TestContext.Current.CancellationToken) == 1 && one[0] != '\n')
                line.Append((char)one[0]);
            return line.ToString().TrimEnd('\r');
        }
        await ReadLineAsync(plain); // the greeting
        string reply;
        do
            reply = await ReadLineAsync(plain);
        while (!reply.StartsWith(ready, StringComparison.Ordinal));
        await using var tls = new SslStream(plain, false, Validate);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "mx.test" }, TestContext.Current.CancellationToken);
        await tls.WriteAsync(Encoding.ASCII.GetBytes(after), TestContext.Current.CancellationToken);
        var lines = new List<string>();
        while (true)
        {
            var line = await ReadLineAsync(tls);
            lines.Add(line);
            if (line.StartsWith(until, StringComparison.Ordinal) && (until.Length > 0 || !line.StartsWith("* ", StringComparison.Ordinal)))
                return lines;
        }
    }

    public void Dispose()
    {
        _caKey.Dispose();
        Authority.Dispose();
    }
}
