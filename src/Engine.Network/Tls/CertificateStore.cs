using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Engine.Network.Tls;

/// <summary>A certificate as configured: a PEM file with the chain (the server's certificate first) and a PEM file with its key.</summary>
public sealed record CertificateFiles(string Chain, string Key);

/// <summary>
/// The node's server certificates, read from PEM files: the first is the default, the others are chosen by the
/// name the client asks for (SNI), matched against their DNS names (wildcards "*.example.org" for one label).
/// The files are looked at again at most every <c>checkEvery</c>: when one changed, all are read anew, and a
/// set that does not load keeps the running one (renewal by certbot and the like needs no restart). With no
/// files configured, a self-signed certificate for the host name is made on first start and kept in
/// <c>selfSignedDir</c>: TLS works out of the box, and clients will warn until a real one is configured.
/// </summary>
public sealed class CertificateStore
{
    private readonly IReadOnlyList<CertificateFiles> _files;
    private readonly TimeSpan _checkEvery;
    private readonly Action<string> _warn;
    private readonly object _lock = new();
    private Loaded _loaded;
    private DateTime _nextCheck;

    private sealed record Entry(SslStreamCertificateContext Context, IReadOnlyList<string> Names);

    private sealed record Loaded(IReadOnlyList<Entry> Entries, IReadOnlyList<DateTime> Stamps);

    private CertificateStore(IReadOnlyList<CertificateFiles> files, TimeSpan checkEvery, Action<string> warn)
    {
        _files = files;
        _checkEvery = checkEvery;
        _warn = warn;
        _loaded = Load(files);
        _nextCheck = DateTime.UtcNow + checkEvery;
    }

    /// <summary>The configured certificates, or a self-signed one for <paramref name="hostname"/> (made once, then kept).</summary>
    public static CertificateStore Open(IReadOnlyList<CertificateFiles> files, string selfSignedDir, string hostname, TimeSpan checkEvery,
        Action<string> warn)
    {
        if (files.Count > 0)
            return new CertificateStore(files, checkEvery, warn);
        var self = new CertificateFiles(Path.Combine(selfSignedDir, "self-signed.pem"), Path.Combine(selfSignedDir, "self-signed.key"));
        if (!File.Exists(self.Chain) || !File.Exists(self.Key))
            WriteSelfSigned(self, hostname);
        warn($"no TLS certificate configured (engine.tls.certificates): using the self-signed one for {hostname} in {selfSignedDir}; clients will not trust it");
        return new CertificateStore([self], checkEvery, warn);
    }

    /// <summary>The certificate for the name the client asked for, or the default one.</summary>
    public SslStreamCertificateContext Select(string? serverName)
    {
        var loaded = Current();
        if (!string.IsNullOrEmpty(serverName))
        {
            foreach (var entry in loaded.Entries)
            {
                if (entry.Names.Any(n => Matches(n, serverName)))
                    return entry.Context;
            }
        }
        return loaded.Entries[0].Context;
    }

    /// <summary>The default certificate (for tests and the log).</summary>
    public X509Certificate2 Default => Current().Entries[0].Context.TargetCertificate;

    private Loaded Current()
    {
        lock (_lock)
        {
            if (DateTime.UtcNow < _nextCheck)
                return _loaded;
            _nextCheck = DateTime.UtcNow + _checkEvery;
            if (Stamps(_files).SequenceEqual(_loaded.Stamps))
                return _loaded;
            try
            {
                _loaded = Load(_files);
            }
            catch (Exception e) when (e is IOException or CryptographicException or ArgumentException or UnauthorizedAccessException)
            {
                _warn($"TLS certificates changed but do not load, keeping the running ones: {e.Message}");
            }
            return _loaded;
        }
    }

    private static IReadOnlyList<DateTime> Stamps(IReadOnlyList<CertificateFiles> files) =>
        files.SelectMany(f => new[] { File.GetLastWriteTimeUtc(f.Chain), File.GetLastWriteTimeUtc(f.Key) }).ToArray();

    private static Loaded Load(IReadOnlyList<CertificateFiles> files)
    {
        var stamps = Stamps(files);
        var entries = files.Select(f =>
        {
            var chain = new X509Certificate2Collection();
            chain.ImportFromPemFile(f.Chain);
            if (chain.Count == 0)
                throw new CryptographicException($"{f.Chain}: no certificate in it");
            using var leaf = X509Certificate2.CreateFromPemFile(f.Chain, f.Key);
            // On Linux a key from PEM is ephemeral; SslStream wants it exportable or persisted, so it goes through PKCS#12 once.
            var server = X509CertificateLoader.LoadPkcs12(leaf.Export(X509ContentType.Pkcs12), null);
            var intermediates = new X509Certificate2Collection();
            foreach (var extra in chain.Skip(1))
                intermediates.Add(extra);
            return new Entry(SslStreamCertificateContext.Create(server, intermediates, offline: true), NamesOf(server));
        }).ToArray();
        return new Loaded(entries, stamps);
    }

    /// <summary>The DNS names of a certificate (subject alternative names, else the common name).</summary>
    private static IReadOnlyList<string> NamesOf(X509Certificate2 certificate)
    {
        var names = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(e => e.EnumerateDnsNames()).ToList();
        if (names.Count == 0 && certificate.GetNameInfo(X509NameType.DnsName, false) is { Length: > 0 } common)
            names.Add(common);
        return names;
    }

    private static bool Matches(string pattern, string name) =>
        pattern.StartsWith("*.", StringComparison.Ordinal)
            ? name.IndexOf('.') is var dot and > 0 && name[(dot + 1)..].Equals(pattern[2..], StringComparison.OrdinalIgnoreCase)
            : pattern.Equals(name, StringComparison.OrdinalIgnoreCase);

    /// <summary>A self-signed certificate (ECDSA P-256, ten years) for the host name, localhost and the loopback addresses.</summary>
    private static void WriteSelfSigned(CertificateFiles files, string hostname)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={hostname}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        foreach (var name in new[] { hostname, "localhost" }.Distinct(StringComparer.OrdinalIgnoreCase))
            names.AddDnsName(name);
        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(10));
        Directory.CreateDirectory(Path.GetDirectoryName(files.Key)!);
        var secret = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            secret.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite; // the key is never readable by others, not even for a moment
        using (var writer = new StreamWriter(files.Key, secret))
            writer.Write(key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(files.Chain, certificate.ExportCertificatePem());
    }
}
