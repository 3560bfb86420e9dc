using Dropbox.Shared.Errors;
using Dropbox.Shared.Tls;

namespace Dropbox.Shared.Tests.Tls;

public sealed class ListenGuardTests
{
    [Theory]
    [InlineData("http://127.0.0.1:0")]
    [InlineData("http://127.9.9.9:5080")]
    [InlineData("http://localhost:5080")]
    [InlineData("http://[::1]:5080")]
    public void Plaintext_on_loopback_is_allowed_without_any_flag(string url) =>
        ListenGuard.Check([url], haveCertificate: false, insecureHttp: false);

    [Theory]
    [InlineData("http://0.0.0.0:5080")]
    [InlineData("http://*:5080")]
    [InlineData("http://+:5080")]
    [InlineData("http://[::]:5080")]
    [InlineData("http://192.168.1.20:5080")]
    [InlineData("http://files.example:5080")]
    public void Plaintext_beyond_loopback_is_refused_naming_the_url_and_the_way_out(string url)
    {
        var ex = Assert.Throws<DropboxException>(() => ListenGuard.Check(["http://127.0.0.1:1", url], haveCertificate: true, insecureHttp: false));

        Assert.Equal(ErrorKind.InvalidArgument, ex.Kind);
        Assert.Contains(url, ex.Message, StringComparison.Ordinal);
        Assert.Contains("--insecure-http", ex.Message, StringComparison.Ordinal);
        Assert.Contains("--tls-cert", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Plaintext_beyond_loopback_is_allowed_when_insecure_http_is_given_by_name() =>
        ListenGuard.Check(["http://0.0.0.0:5080"], haveCertificate: false, insecureHttp: true);

    [Fact]
    public void An_https_url_needs_a_certificate()
    {
        var ex = Assert.Throws<DropboxException>(() => ListenGuard.Check(["https://0.0.0.0:5080"], haveCertificate: false, insecureHttp: true));

        Assert.Contains("--tls-cert", ex.Message, StringComparison.Ordinal);
        ListenGuard.Check(["https://0.0.0.0:5080"], haveCertificate: true, insecureHttp: false);
    }

    [Theory]
    [InlineData("ftp://127.0.0.1:21")]
    [InlineData("127.0.0.1:5080")]
    public void A_url_that_is_not_http_or_https_is_refused(string url) =>
        Assert.Throws<DropboxException>(() => ListenGuard.Check([url], haveCertificate: true, insecureHttp: true));
}
