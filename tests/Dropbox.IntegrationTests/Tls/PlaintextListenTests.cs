using System.Text.RegularExpressions;
using Dropbox.IntegrationTests.Client;

namespace Dropbox.IntegrationTests.Tls;

/// <summary>Both node kinds, as real processes, refuse plaintext beyond loopback unless told <c>--insecure-http</c>.</summary>
[Trait("Category", "Slow")]
public sealed partial class PlaintextListenTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_metadata_node_given_a_plaintext_url_beyond_loopback_refuses_to_start_and_creates_nothing_unless_insecure_http()
    {
        var data = Path.Combine(_dir.Path, "metadata");
        var keys = _dir.CreateSub("keys");

        using (var refused = ChildProcess.Start(Binaries.MetadataNode, ["--data", data, "--keys", keys, "--urls", "http://0.0.0.0:0"]))
        {
            Assert.Equal(2, await refused.WaitForExitAsync(Timeout));
            Assert.Contains("--insecure-http", refused.Stderr, StringComparison.Ordinal);
            Assert.Contains("http://0.0.0.0:0", refused.Stderr, StringComparison.Ordinal);
            Assert.False(Directory.Exists(data), "a refused start must not create the data folder");
        }

        using var allowed = ChildProcess.Start(Binaries.MetadataNode, ["--data", data, "--keys", keys, "--urls", "http://0.0.0.0:0", "--insecure-http", "--gc-interval-seconds", "0"]);
        await allowed.WaitForOutputAsync(MetadataListening(), Timeout);
    }

    [Fact]
    public async Task A_storage_node_given_a_plaintext_url_beyond_loopback_refuses_to_start_and_creates_nothing_unless_insecure_http()
    {
        var data = Path.Combine(_dir.Path, "storage");
        var keys = _dir.CreateSub("keys");

        using (var refused = ChildProcess.Start(Binaries.StorageNode, ["--data", data, "--keys", keys, "--urls", "http://0.0.0.0:0"]))
        {
            Assert.Equal(2, await refused.WaitForExitAsync(Timeout));
            Assert.Contains("--insecure-http", refused.Stderr, StringComparison.Ordinal);
            Assert.False(Directory.Exists(data), "a refused start must not create the data folder");
        }

        using var allowed = ChildProcess.Start(Binaries.StorageNode, ["--data", data, "--keys", keys, "--urls", "http://0.0.0.0:0", "--insecure-http"]);
        await allowed.WaitForOutputAsync(StorageListening(), Timeout);
    }

    [Fact]
    public async Task Standalone_refuses_a_wildcard_bind_and_an_https_url_without_a_certificate_is_refused_by_name()
    {
        using (var standalone = ChildProcess.Start(Binaries.Appliance, ["standalone", "--data", Path.Combine(_dir.Path, "s"), "--port", "0", "--bind", "0.0.0.0"]))
        {
            Assert.Equal(2, await standalone.WaitForExitAsync(Timeout));
            Assert.Contains("--bind", standalone.Stderr, StringComparison.Ordinal);
        }

        using var node = ChildProcess.Start(Binaries.MetadataNode, ["--data", Path.Combine(_dir.Path, "m"), "--keys", _dir.CreateSub("k"), "--urls", "https://127.0.0.1:0"]);
        Assert.Equal(2, await node.WaitForExitAsync(Timeout));
        Assert.Contains("--tls-cert", node.Stderr, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"^listening: http://", RegexOptions.Multiline)]
    private static partial Regex MetadataListening();

    [GeneratedRegex(@"storage node listening: grpc=http://")]
    private static partial Regex StorageListening();
}
