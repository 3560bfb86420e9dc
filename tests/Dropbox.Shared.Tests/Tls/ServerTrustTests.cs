using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Tls;

namespace Dropbox.Shared.Tests.Tls;

public sealed class ServerTrustTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly LocalTlsMaterial _ours;
    private readonly LocalTlsMaterial _theirs;

    public ServerTrustTests()
    {
        _ours = LocalCertificateAuthority.Ensure(_dir.Sub("ours"), ["127.0.0.1", "localhost"]);
        _theirs = LocalCertificateAuthority.Ensure(_dir.Sub("theirs"), ["127.0.0.1", "localhost"]);
    }

    public void Dispose()
    {
        _ours.ServerCertificate.Dispose();
        _theirs.ServerCertificate.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public void A_ca_trust_accepts_a_certificate_its_ca_issued_though_the_system_does_not_know_that_ca()
    {
        var trust = ServerTrust.ForCaFile(_ours.CaCertificatePath, "--ca");

        Assert.True(trust.Validate(this, _ours.ServerCertificate, null, SslPolicyErrors.RemoteCertificateChainErrors));
    }

    [Fact]
    public void A_ca_trust_refuses_a_certificate_of_another_ca_naming_the_expected_and_the_presented_fingerprint()
    {
        var trust = ServerTrust.ForCaFile(_ours.CaCertificatePath, "--ca");

        var ex = Assert.Throws<DropboxException>(() => trust.Validate(this, _theirs.ServerCertificate, null, SslPolicyErrors.RemoteCertificateChainErrors));

        Assert.Equal(ErrorKind.PermissionDenied, ex.Kind);
        Assert.Contains(_ours.CaFingerprint, ex.Message, StringComparison.Ordinal);
        Assert.Contains(_theirs.ServerFingerprint, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_refusal_by_a_bundle_of_many_cas_names_the_first_three_and_how_many_more()
    {
        // A system bundle given as --ca holds ~140 roots: a message naming each buried the reason.
        var bundle = _dir.Sub("bundle.pem");
        var cas = Enumerable.Range(0, 5).Select(i => LocalCertificateAuthority.Ensure(_dir.Sub("ca" + i), ["127.0.0.1"])).ToList();
        File.WriteAllText(bundle, string.Concat(cas.Select(c => File.ReadAllText(c.CaCertificatePath))));
        var trust = ServerTrust.ForCaFile(bundle, "--ca");

        var ex = Assert.Throws<DropboxException>(() => trust.Validate(this, _theirs.ServerCertificate, null, SslPolicyErrors.RemoteCertificateChainErrors));

        Assert.Equal(3, cas.Count(c => ex.Message.Contains(c.CaFingerprint, StringComparison.Ordinal)));
        Assert.Contains("or 2 more CA(s) in the file", ex.Message, StringComparison.Ordinal);
        Assert.Contains(_theirs.ServerFingerprint, ex.Message, StringComparison.Ordinal);
        Assert.Equal(3, cas.Count(c => trust.Description.Contains(c.CaFingerprint, StringComparison.Ordinal)));
        foreach (var ca in cas)
        {
            ca.ServerCertificate.Dispose();
        }
    }

    [Fact]
    public void A_ca_trust_refuses_a_certificate_of_its_ca_that_names_another_host()
    {
        var trust = ServerTrust.ForCaFile(_ours.CaCertificatePath, "--ca");

        var ex = Assert.Throws<DropboxException>(() => trust.Validate(this, _ours.ServerCertificate, null, SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateChainErrors));

        Assert.Contains("does not name the host", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_ca_trust_does_not_accept_the_ca_certificate_itself_as_a_server()
    {
        // The CA's own certificate chains to itself, but is not what the server presents: a server holding the
        // CA key could mint anything anyway, so this only checks the chain check is real.
        var trust = ServerTrust.ForCaFile(_ours.CaCertificatePath, "--ca");
        using var theirCa = X509CertificateLoader.LoadCertificateFromFile(_theirs.CaCertificatePath);

        Assert.Throws<DropboxException>(() => trust.Validate(this, theirCa, null, SslPolicyErrors.RemoteCertificateChainErrors));
    }

    [Fact]
    public void A_pinned_fingerprint_accepts_exactly_that_certificate_in_any_of_the_printed_forms()
    {
        var openSslForm = string.Join(':', Convert.FromHexString(_ours.ServerFingerprint["SHA256:".Length..]).Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));

        Assert.True(ServerTrust.ForFingerprint(_ours.ServerFingerprint).Validate(this, _ours.ServerCertificate, null, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.True(ServerTrust.ForFingerprint(openSslForm).Validate(this, _ours.ServerCertificate, null, SslPolicyErrors.RemoteCertificateChainErrors));
        var ex = Assert.Throws<DropboxException>(() => ServerTrust.ForFingerprint(_ours.ServerFingerprint).Validate(this, _theirs.ServerCertificate, null, SslPolicyErrors.None));
        Assert.Contains(_ours.ServerFingerprint, ex.Message, StringComparison.Ordinal);
        Assert.Contains(_theirs.ServerFingerprint, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("SHA256:abc")]
    [InlineData("MD5:0123")]
    [InlineData("")]
    public void A_malformed_fingerprint_is_refused_with_the_expected_form(string text)
    {
        var ex = Assert.Throws<DropboxException>(() => ServerTrust.ForFingerprint(text));

        Assert.Equal(ErrorKind.InvalidArgument, ex.Kind);
        Assert.Contains("64 hex digits", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_system_trust_refuses_a_certificate_the_system_does_not_trust_and_says_how_to_trust_it()
    {
        var ex = Assert.Throws<DropboxException>(() => ServerTrust.System.Validate(this, _ours.ServerCertificate, null, SslPolicyErrors.RemoteCertificateChainErrors));

        Assert.Contains(_ours.ServerFingerprint, ex.Message, StringComparison.Ordinal);
        Assert.Contains("--ca", ex.Message, StringComparison.Ordinal);
    }
}
