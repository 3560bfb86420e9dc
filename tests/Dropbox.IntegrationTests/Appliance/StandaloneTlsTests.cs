using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Dropbox.IntegrationTests.Client;
using Dropbox.Shared.Tls;

namespace Dropbox.IntegrationTests.Appliance;

/// <summary>
/// <c>standalone --tls</c> as a user runs it: a real appliance process that makes its own CA, prints
/// <c>ca:</c> and <c>fingerprint:</c> before <c>ready: https://…</c>, and real client processes that trust it by
/// CA file or by fingerprint, or refuse it when given the wrong one.
/// </summary>
[Trait("Category", "Slow")]
public sealed partial class StandaloneTlsTests : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Standalone_tls_prints_its_ca_and_fingerprint_before_ready_https_and_two_clients_sync_a_file_byte_identical_through_it()
    {
        // Arrange: the appliance with --tls on a new data folder.
        var data = _dir.CreateSub("appliance");
        var content = RandomNumberGenerator.GetBytes(2 * 1024 * 1024 + 99);
        string fingerprint, caText;
        using (var appliance = ChildProcess.Start(Binaries.Appliance, ["standalone", "--data", data, "--port", "0", "--tls"]))
        {
            var (token, ca, print, url) = await WaitForTlsStartAsync(appliance);
            fingerprint = print;
            caText = await File.ReadAllTextAsync(ca);
            using (var caCert = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(ca))
            {
                Assert.True(caCert.Extensions.OfType<System.Security.Cryptography.X509Certificates.X509BasicConstraintsExtension>().Single().CertificateAuthority);
            }

            if (!OperatingSystem.IsWindows())
            {
                foreach (var key in Directory.GetFiles(Path.GetDirectoryName(ca)!, "*.key"))
                {
                    Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
                }
            }

            // Act: one client trusts the CA (a copy of the file, as a user would carry it), the other pins the fingerprint.
            var caCopy = Path.Combine(_dir.Path, "appliance-ca.pem");
            File.Copy(ca, caCopy);
            var alpha = await LoginAsync("alpha", url, token, "--ca", caCopy);
            var beta = await LoginAsync("beta", url, token, "--fingerprint", fingerprint);
            await File.WriteAllBytesAsync(Path.Combine(alpha.Folder, "photo.raw"), content);
            await RunClientOkAsync(alpha.State, "sync", "--once", "--stable-age", "0");
            await RunClientOkAsync(beta.State, "sync", "--once");

            // Assert: the bytes arrived intact over TLS; the presigned links the appliance hands out are https.
            Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(beta.Folder, "photo.raw")));
            var link = await RunClientOkAsync(alpha.State, "link", "photo.raw", "--chunks");
            Assert.Matches(@"(?m)^https://127\.0\.0\.1:\d+/l/[A-Za-z0-9_-]+/photo\.raw$", link);
            Assert.Matches(@"(?m)^0 \d+ \w+ https://127\.0\.0\.1:\d+/chunks/", link);
            Assert.Contains($"trusts:     exactly the certificate {fingerprint}", await RunClientOkAsync(beta.State, "status"), StringComparison.Ordinal);

            appliance.Signal(15);
            Assert.Equal(0, await appliance.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        }

        // A restart reuses the CA and the server certificate: the same fingerprint, the same CA file.
        using var again = ChildProcess.Start(Binaries.Appliance, ["standalone", "--data", data, "--port", "0", "--tls"]);
        var (token2, ca2, print2, _) = await WaitForTlsStartAsync(again);
        Assert.Equal(string.Empty, token2);
        Assert.Equal(fingerprint, print2);
        Assert.Equal(caText, await File.ReadAllTextAsync(ca2));
    }

    [Fact]
    public async Task A_client_given_a_wrong_ca_or_a_wrong_fingerprint_refuses_the_appliance_naming_both_fingerprints_and_links_nothing()
    {
        // Arrange: the appliance, and a CA of somebody else's.
        using var appliance = ChildProcess.Start(Binaries.Appliance, ["standalone", "--data", _dir.CreateSub("appliance"), "--port", "0", "--tls"]);
        var (token, ca, fingerprint, url) = await WaitForTlsStartAsync(appliance);
        var other = LocalCertificateAuthority.Ensure(_dir.CreateSub("other-ca"), ["127.0.0.1"]);
        var wrongPin = "SHA256:" + new string('a', 64);

        // Act
        var byCa = await LoginExpectingRefusalAsync("by-ca", url, token, "--ca", other.CaCertificatePath);
        var byPin = await LoginExpectingRefusalAsync("by-pin", url, token, "--fingerprint", wrongPin);

        // Assert: each names what it expected and what the server presented.
        Assert.Contains(other.CaFingerprint, byCa.Stderr, StringComparison.Ordinal);
        Assert.Contains(fingerprint, byCa.Stderr, StringComparison.Ordinal);
        Assert.Contains(wrongPin, byPin.Stderr, StringComparison.Ordinal);
        Assert.Contains(fingerprint, byPin.Stderr, StringComparison.Ordinal);

        // Neither was linked, so neither can sync; a client with the right CA sees an empty account.
        var (code, _, stderr) = await RunClientAsync(byCa.State, "sync", "--once");
        Assert.NotEqual(0, code);
        Assert.Contains("No linked account", stderr, StringComparison.Ordinal);
        var right = await LoginAsync("right", url, token, "--ca", ca);
        Assert.DoesNotContain("hello.txt", await RunClientOkAsync(right.State, "ls"), StringComparison.Ordinal);
    }

    private async Task<(string State, string Stderr)> LoginExpectingRefusalAsync(string name, string url, string token, string option, string value)
    {
        var folder = _dir.CreateSub(name + "-folder");
        var state = _dir.CreateSub(name + "-state");
        await File.WriteAllTextAsync(Path.Combine(folder, "hello.txt"), "must not leave this machine");
        var (code, _, stderr) = await RunClientAsync(state, "login", "--server", url, "--token", token, "--folder", folder, option, value);
        Assert.True(code == 1, $"login with a wrong {option} exited {code}: {stderr}");
        Assert.Contains("TLS certificate", stderr, StringComparison.Ordinal);
        return (state, stderr);
    }

    private static async Task<(string Token, string Ca, string Fingerprint, string Url)> WaitForTlsStartAsync(ChildProcess appliance)
    {
        var url = (await appliance.WaitForOutputAsync(ReadyLine(), StartTimeout)).Groups[1].Value;
        var stdout = appliance.Stdout;
        var ca = CaLine().Match(stdout);
        var print = FingerprintLine().Match(stdout);
        var token = TokenLine().Match(stdout);
        // The owner token is printed only on the start that creates the owner.
        Assert.True(ca.Success && print.Success, stdout);
        var ready = stdout.IndexOf("ready: ", StringComparison.Ordinal);
        Assert.True(ca.Index < ready && print.Index < ready, $"ca: and fingerprint: must come before ready:\n{stdout}");
        Assert.True(File.Exists(ca.Groups[1].Value), ca.Groups[1].Value);
        return (token.Success ? token.Groups[1].Value : string.Empty, ca.Groups[1].Value, print.Groups[1].Value, url);
    }

    private async Task<(string Folder, string State)> LoginAsync(string name, string url, string token, string option, string value)
    {
        var folder = _dir.CreateSub(name + "-folder");
        var state = _dir.CreateSub(name + "-state");
        await RunClientOkAsync(state, "login", "--server", url, "--token", token, "--folder", folder, "--device", name, option, value);
        return (folder, state);
    }

    private static async Task<string> RunClientOkAsync(string state, params string[] args)
    {
        var (code, stdout, stderr) = await RunClientAsync(state, args);
        Assert.True(code == 0, $"client {string.Join(' ', args)} exited {code}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        return stdout;
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunClientAsync(string state, params string[] args)
    {
        using var client = ChildProcess.Start(Binaries.SyncClient, [.. args, "--state", state]);
        var code = await client.WaitForExitAsync(ClientProcess.VerbTimeout);
        return (code, client.Stdout, client.Stderr);
    }

    [GeneratedRegex(@"^token: (\S+)$", RegexOptions.Multiline)]
    private static partial Regex TokenLine();

    [GeneratedRegex(@"^ca: (.+?)\s*$", RegexOptions.Multiline)]
    private static partial Regex CaLine();

    [GeneratedRegex(@"^fingerprint: (SHA256:[0-9a-f]{64})\s*$", RegexOptions.Multiline)]
    private static partial Regex FingerprintLine();

    [GeneratedRegex(@"^ready: (https://127\.0\.0\.1:\d+)\s*$", RegexOptions.Multiline)]
    private static partial Regex ReadyLine();
}
