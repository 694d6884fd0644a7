using System.Net.Security;
using System.Security.Authentication;

namespace Engine.Network.Tls;

/// <summary>
/// The server side of TLS for every service (SMTP STARTTLS, IMAP STARTTLS and port 993, POP3 STLS and port 995):
/// TLS 1.2 and 1.3 only by default, forward-secret AEAD cipher suites only, the certificate chosen by SNI from the
/// <see cref="CertificateStore"/>, and a bounded handshake.
/// </summary>
public sealed class ServerTls(CertificateStore certificates, SslProtocols protocols, TimeSpan handshakeTimeout)
{
    private sealed record Setup(CertificateStore Certificates, SslProtocols Protocols, TimeSpan HandshakeTimeout);

    private Setup _setup = new(certificates, protocols, handshakeTimeout);

    /// <summary>
    /// TLS 1.3's suites and, for TLS 1.2, ECDHE with AES-GCM or ChaCha20-Poly1305: no CBC, no RSA key exchange,
    /// no SHA-1 MACs (what Mozilla's "intermediate" profile keeps). Null where the platform cannot set a policy.
    /// </summary>
    private static readonly CipherSuitesPolicy? Ciphers = OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()
        ? new CipherSuitesPolicy(
        [
            TlsCipherSuite.TLS_AES_128_GCM_SHA256,
            TlsCipherSuite.TLS_AES_256_GCM_SHA384,
            TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
            TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ])
        : null;

    public CertificateStore Certificates => Volatile.Read(ref _setup).Certificates;

    /// <summary>
    /// Takes the certificates, protocols and handshake limit of <paramref name="other"/> (a configuration reload):
    /// handshakes from now on use them, sessions already in TLS keep theirs.
    /// </summary>
    public void Replace(ServerTls other) => Volatile.Write(ref _setup, Volatile.Read(ref other._setup));

    /// <summary>
    /// Runs the server handshake over <paramref name="inner"/> (which the returned stream owns). Throws
    /// <see cref="AuthenticationException"/> or <see cref="IOException"/> when it fails, and
    /// <see cref="OperationCanceledException"/> when it takes longer than the handshake timeout.
    /// </summary>
    public async Task<SslStream> AuthenticateAsync(Stream inner, CancellationToken stop)
    {
        var setup = Volatile.Read(ref _setup);
        var tls = new SslStream(inner, leaveInnerStreamOpen: false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
        timeout.CancelAfter(setup.HandshakeTimeout);
        try
        {
            await tls.AuthenticateAsServerAsync((_, hello, _, _) => ValueTask.FromResult(new SslServerAuthenticationOptions
            {
                ServerCertificateContext = setup.Certificates.Select(hello.ServerName),
                EnabledSslProtocols = setup.Protocols,
                CipherSuitesPolicy = Ciphers,
                ClientCertificateRequired = false,
                AllowRenegotiation = false,
                EncryptionPolicy = EncryptionPolicy.RequireEncryption,
            }), null, timeout.Token).ConfigureAwait(false);
            return tls;
        }
        catch
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Ends a session's stream: over TLS with a close_notify first (clients such as OpenSSL 3 report an
    /// "unexpected eof" without it), bounded, as a client that does not read must not hold the session.
    /// </summary>
    public static async Task CloseAsync(Stream stream)
    {
        if (stream is SslStream tls)
        {
            try
            {
                await tls.ShutdownAsync().WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or TimeoutException or ObjectDisposedException or InvalidOperationException
                                          or System.Net.Sockets.SocketException or AuthenticationException)
            {
                // the peer is gone already
            }
        }
        await stream.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>What a log line or a Received: header says of a session's TLS: "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384".</summary>
    public static string Describe(SslStream tls) =>
        $"{Name(tls.SslProtocol)} with cipher {tls.NegotiatedCipherSuite}";

    private static string Name(SslProtocols protocol) => protocol switch
    {
        SslProtocols.Tls13 => "TLSv1.3",
        SslProtocols.Tls12 => "TLSv1.2",
        _ => protocol.ToString(),
    };

    /// <summary>"TLSv1.2", "TLSv1.3" (Postfix's and OpenSSL's names) to the protocols they stand for.</summary>
    public static SslProtocols ParseProtocols(IEnumerable<string> names) => names.Aggregate(SslProtocols.None, (all, name) => all | name switch
    {
        "TLSv1.2" => SslProtocols.Tls12,
        "TLSv1.3" => SslProtocols.Tls13,
        _ => throw new ArgumentException($"unknown TLS protocol '{name}' (TLSv1.2 or TLSv1.3)"),
    });
}
