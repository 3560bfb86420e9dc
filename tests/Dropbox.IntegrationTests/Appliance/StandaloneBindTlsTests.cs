using System.Net;
using Dropbox.Appliance;

namespace Dropbox.IntegrationTests.Appliance;

/// <summary>
/// When <c>standalone</c> turns TLS on. A process test may only listen on 127.0.0.1 (network tests stay on loopback),
/// so the decision a non-loopback <c>--bind</c> takes is tested here as the function the appliance calls.
/// </summary>
public sealed class StandaloneBindTlsTests
{
    [Theory]
    // Serving other machines: TLS by itself, unless a TLS-terminating proxy is declared with --insecure-http.
    [InlineData("192.168.1.20", false, false, true)]
    [InlineData("10.0.0.5", false, false, true)]
    [InlineData("fd00::17", false, false, true)]
    [InlineData("192.168.1.20", false, true, false)]
    [InlineData("fd00::17", false, true, false)]
    // A wildcard is not loopback either: TLS. (The appliance refuses a wildcard --bind before it asks, since the
    // address goes into links and the certificate; the decision itself still never answers plaintext for one.)
    [InlineData("0.0.0.0", false, false, true)]
    [InlineData("::", false, false, true)]
    // --tls always wins, loopback or not, even beside --insecure-http.
    [InlineData("127.0.0.1", true, false, true)]
    [InlineData("192.168.1.20", true, false, true)]
    [InlineData("192.168.1.20", true, true, true)]
    // Loopback (any of 127/8 and ::1) stays plaintext without --tls.
    [InlineData("127.0.0.1", false, false, false)]
    [InlineData("127.0.0.2", false, false, false)]
    [InlineData("::1", false, false, false)]
    [InlineData("127.0.0.1", false, true, false)]
    public void Standalone_uses_tls_with_tls_or_beyond_loopback_unless_insecure_http(string bind, bool tls, bool insecureHttp, bool expected)
    {
        // Arrange
        var address = IPAddress.Parse(bind);

        // Act
        var usesTls = StandaloneCommand.UsesTls(address, tls, insecureHttp);

        // Assert
        Assert.Equal(expected, usesTls);
    }
}
