using System.Security.Cryptography.X509Certificates;

namespace Dropbox.Shared.Tls;

/// <summary>What <see cref="LocalCertificateAuthority.Ensure"/> made or found: file paths, the loaded server certificate, fingerprints.</summary>
/// <param name="CaCertificatePath">The CA certificate (PEM) to give clients.</param>
/// <param name="ServerCertificatePath">The server certificate (PEM).</param>
/// <param name="ServerKeyPath">The server certificate's key (PEM, mode 0600).</param>
/// <param name="ServerCertificate">The server certificate with its private key, ready for Kestrel.</param>
/// <param name="CaFingerprint">The CA certificate's fingerprint.</param>
/// <param name="ServerFingerprint">The server certificate's fingerprint (what <c>login --fingerprint</c> pins).</param>
public sealed record LocalTlsMaterial(
    string CaCertificatePath,
    string ServerCertificatePath,
    string ServerKeyPath,
    X509Certificate2 ServerCertificate,
    string CaFingerprint,
    string ServerFingerprint);
