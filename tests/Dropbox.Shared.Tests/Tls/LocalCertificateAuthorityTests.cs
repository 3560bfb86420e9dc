using System.Security.Cryptography.X509Certificates;
using Dropbox.Shared.Tls;

namespace Dropbox.Shared.Tests.Tls;

public sealed class LocalCertificateAuthorityTests : IDisposable
{
    private readonly TempFolder _temp = new();
    private readonly string _dir;

    public LocalCertificateAuthorityTests() => _dir = _temp.Sub("ca");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void A_first_start_makes_a_ca_and_a_server_certificate_for_the_hosts_with_private_files_and_a_second_reuses_them()
    {
        var first = LocalCertificateAuthority.Ensure(_dir, ["127.0.0.1", "::1", "localhost"]);
        var second = LocalCertificateAuthority.Ensure(_dir, ["127.0.0.1", "::1", "localhost"]);

        Assert.Equal(first.ServerFingerprint, second.ServerFingerprint);
        Assert.Equal(first.CaFingerprint, second.CaFingerprint);
        var san = second.ServerCertificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Contains("localhost", san.EnumerateDnsNames());
        Assert.Contains(System.Net.IPAddress.Loopback, san.EnumerateIPAddresses());
        Assert.Contains(System.Net.IPAddress.IPv6Loopback, san.EnumerateIPAddresses());
        Assert.True(second.ServerCertificate.HasPrivateKey);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(_dir));
            foreach (var file in Directory.GetFiles(_dir))
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            }
        }

        first.ServerCertificate.Dispose();
        second.ServerCertificate.Dispose();
    }

    [Fact]
    public void A_new_host_gets_a_new_server_certificate_from_the_same_ca()
    {
        var first = LocalCertificateAuthority.Ensure(_dir, ["127.0.0.1"]);
        var widened = LocalCertificateAuthority.Ensure(_dir, ["127.0.0.1", "10.1.2.3"]);

        Assert.Equal(first.CaFingerprint, widened.CaFingerprint);
        Assert.NotEqual(first.ServerFingerprint, widened.ServerFingerprint);
        Assert.True(ServerTrust.ForCaFile(widened.CaCertificatePath, "--ca").Validate(this, widened.ServerCertificate, null, System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors));
        first.ServerCertificate.Dispose();
        widened.ServerCertificate.Dispose();
    }

    [Fact]
    public void An_operators_ca_without_its_key_is_kept_with_the_certificate_it_issued_and_never_replaced()
    {
        var made = LocalCertificateAuthority.Ensure(_dir, ["127.0.0.1", "files.example"]);
        made.ServerCertificate.Dispose();
        var caText = File.ReadAllText(Path.Combine(_dir, LocalCertificateAuthority.CaCertificateFile));
        File.Delete(Path.Combine(_dir, LocalCertificateAuthority.CaKeyFile));

        var kept = LocalCertificateAuthority.Ensure(_dir, ["127.0.0.1", "files.example"]);
        var ex = Assert.Throws<Dropbox.Shared.Errors.DropboxException>(() => LocalCertificateAuthority.Ensure(_dir, ["127.0.0.1", "other.example"]));

        Assert.Equal(made.ServerFingerprint, kept.ServerFingerprint);
        Assert.Contains("other.example", ex.Message, StringComparison.Ordinal);
        Assert.Equal(caText, File.ReadAllText(Path.Combine(_dir, LocalCertificateAuthority.CaCertificateFile)));
        Assert.Equal(made.ServerFingerprint, CertificateFingerprint.Of(X509CertificateLoader.LoadCertificateFromFile(Path.Combine(_dir, LocalCertificateAuthority.ServerCertificateFile))));
        kept.ServerCertificate.Dispose();
    }
}
