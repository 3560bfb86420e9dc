using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Dropbox.Shared.Errors;
using Dropbox.Shared.IO;

namespace Dropbox.Shared.Tls;

/// <summary>
/// The appliance's own small CA, kept in one folder (mode 0700, every file 0600): <c>ca.crt</c>/<c>ca.key</c> and
/// a server certificate <c>server.crt</c>/<c>server.key</c> it issued for the hosts the appliance answers on. Made
/// on first use with the BCL's <see cref="CertificateRequest"/> (ECDSA P-256); reused afterwards. The server
/// certificate is issued again (same CA, so clients that trust the CA keep working) when it no longer covers
/// the hosts or is within 30 days of expiry.
/// </summary>
public static class LocalCertificateAuthority
{
    /// <summary>The CA certificate clients are given (<c>login --ca</c>).</summary>
    public const string CaCertificateFile = "ca.crt";

    /// <summary>The CA's private key.</summary>
    public const string CaKeyFile = "ca.key";

    /// <summary>The server certificate.</summary>
    public const string ServerCertificateFile = "server.crt";

    /// <summary>The server certificate's private key.</summary>
    public const string ServerKeyFile = "server.key";

    private static readonly TimeSpan CaLifetime = TimeSpan.FromDays(3650);
    private static readonly TimeSpan ServerLifetime = TimeSpan.FromDays(825);
    private static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);

    /// <summary>Loads or creates the CA and a server certificate for <paramref name="hosts"/> (names or IP addresses).</summary>
    public static LocalTlsMaterial Ensure(string directory, IReadOnlyCollection<string> hosts)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(hosts);
        directory = Path.GetFullPath(directory);
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var caCert = Path.Combine(directory, CaCertificateFile);
        var caKey = Path.Combine(directory, CaKeyFile);
        var serverCert = Path.Combine(directory, ServerCertificateFile);
        var serverKey = Path.Combine(directory, ServerKeyFile);
        var now = DateTimeOffset.UtcNow;

        X509Certificate2 ca;
        if (File.Exists(caCert) && File.Exists(caKey))
        {
            ca = X509Certificate2.CreateFromPemFile(caCert, caKey);
        }
        else if (File.Exists(caCert))
        {
            // The operator's own CA, without its key: keep it and a server certificate it issued; never replace it.
            ca = X509CertificateLoader.LoadCertificateFromFile(caCert);
        }
        else
        {
            ca = CreateCa(now);
            WritePrivate(caKey, ca.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
            WritePrivate(caCert, ca.ExportCertificatePem());
            DirectorySync.Flush(directory);
        }

        using (ca)
        {
            X509Certificate2? server = null;
            if (File.Exists(serverCert) && File.Exists(serverKey))
            {
                server = X509Certificate2.CreateFromPemFile(serverCert, serverKey);
                if (!Covers(server, hosts) || server.NotAfter.ToUniversalTime() < now.UtcDateTime + RenewBefore || !IssuedBy(server, ca))
                {
                    server.Dispose();
                    server = null;
                }
            }

            if (server is null)
            {
                if (!ca.HasPrivateKey)
                {
                    throw new DropboxException(ErrorKind.InvalidArgument,
                        $"'{caCert}' has no key beside it ({CaKeyFile}), so no server certificate can be issued; put a {ServerCertificateFile} and {ServerKeyFile} it issued, " +
                        $"valid for more than 30 days and for {string.Join(", ", hosts)}, into '{directory}'.");
                }

                using var issued = IssueServer(ca, hosts, now);
                WritePrivate(serverKey, issued.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
                WritePrivate(serverCert, issued.ExportCertificatePem());
                DirectorySync.Flush(directory);
            }
            else
            {
                server.Dispose();
            }

            var loaded = ServerCertificate.Load(serverCert, serverKey);
            return new LocalTlsMaterial(caCert, serverCert, serverKey, loaded, CertificateFingerprint.Of(ca), CertificateFingerprint.Of(loaded));
        }
    }

    private static X509Certificate2 CreateCa(DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=Dropbox appliance CA {Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        return request.CreateSelfSigned(now.AddDays(-1), now + CaLifetime);
    }

    private static X509Certificate2 IssueServer(X509Certificate2 ca, IReadOnlyCollection<string> hosts, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={hosts.FirstOrDefault() ?? "localhost"}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        foreach (var host in hosts.Distinct(StringComparer.OrdinalIgnoreCase))
        {
            if (IPAddress.TryParse(host.Trim('[', ']'), out var ip))
            {
                names.AddIpAddress(ip);
            }
            else
            {
                names.AddDnsName(host);
            }
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1", "Server Authentication")], critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var notAfter = now + ServerLifetime < ca.NotAfter.ToUniversalTime() ? now + ServerLifetime : new DateTimeOffset(ca.NotAfter.ToUniversalTime());
        using var issued = request.Create(ca, now.AddDays(-1), notAfter, RandomNumberGenerator.GetBytes(16));
        return issued.CopyWithPrivateKey(key);
    }

    private static bool Covers(X509Certificate2 certificate, IReadOnlyCollection<string> hosts)
    {
        var san = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();
        if (san is null)
        {
            return false;
        }

        var ips = san.EnumerateIPAddresses().ToList();
        var dns = san.EnumerateDnsNames().ToHashSet(StringComparer.OrdinalIgnoreCase);
        return hosts.All(h => IPAddress.TryParse(h.Trim('[', ']'), out var ip) ? ips.Contains(ip) : dns.Contains(h));
    }

    private static bool IssuedBy(X509Certificate2 certificate, X509Certificate2 ca)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }

    private static void WritePrivate(string path, string text)
    {
        var temp = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        File.Delete(temp);
        using (var stream = new FileStream(temp, options))
        {
            // A final newline, so files can be concatenated into a bundle.
            stream.Write(Encoding.ASCII.GetBytes(text.EndsWith('\n') ? text : text + "\n"));
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
    }
}
