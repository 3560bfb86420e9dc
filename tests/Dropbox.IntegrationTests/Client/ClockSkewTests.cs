using System.Security.Cryptography;

namespace Dropbox.IntegrationTests.Client;

/// <summary>
/// Storage nodes whose clocks are minutes off the metadata node's, faked per process with libfaketime (Debian's
/// <c>faketime</c> package, which <c>.ci/run</c> installs): tokens the metadata node signs must still be honoured,
/// TLS between the nodes must still verify, and versions must keep their order.
/// </summary>
[Trait("Category", "Slow")]
public sealed class ClockSkewTests : IDisposable
{
    private static readonly string[] LibraryFolders = ["/usr/lib/x86_64-linux-gnu/faketime", "/usr/lib/aarch64-linux-gnu/faketime", "/usr/lib/faketime"];
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Storage_nodes_four_minutes_ahead_and_behind_still_take_puts_serve_gets_and_keep_versions_in_order()
    {
        // Arrange: TLS as in the compose file, replication 2, so every chunk is put to both skewed nodes.
        var library = LibraryFolders.Select(f => Path.Combine(f, "libfaketime.so.1")).FirstOrDefault(File.Exists);
        Assert.True(library is not null, "libfaketime not found: install Debian's faketime package (apt-get install faketime; .ci/run does)");
        using var cluster = await ClientCluster.StartAsync(_dir, storageNodes: 2, replication: 2, tls: true, storageEnvironment: node => new Dictionary<string, string>
        {
            ["LD_PRELOAD"] = library!,
            ["FAKETIME"] = node == 1 ? "+240s" : "-240s",
            // Only the wall clock is skewed, as between machines; timers and timeouts keep the real monotonic clock.
            ["DONT_FAKE_MONOTONIC"] = "1",
        });
        using (var http = new HttpClient(Dropbox.Shared.Tls.ServerTrust.ForCaFile(cluster.CaFile!, "the cluster CA").CreateHandler()))
        {
            // The skew is real: each node's HTTP Date header comes from its own (faked) clock.
            foreach (var (url, skew) in cluster.StorageHttpUrls.Zip(new[] { 240, -240 }))
            {
                using var response = await http.GetAsync(url + "/healthz");
                var offset = (response.Headers.Date!.Value - DateTimeOffset.UtcNow).TotalSeconds;
                Assert.True(Math.Abs(offset - skew) < 30, $"{url}: clock off by {offset:F0} s, expected {skew} s");
            }
        }

        var alpha = cluster.NewClient("alpha");
        await alpha.LoginAsync();
        var first = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
        var second = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);

        // Act: two versions uploaded one after the other, then read back by a new device with only the node that is
        // behind left alive (its token checks and reads are the ones that count then).
        alpha.Write("skew.bin", first);
        Assert.Equal(1, (await alpha.SyncAsync()).FilesUploaded);
        alpha.Write("skew.bin", second);
        Assert.Equal(1, (await alpha.SyncAsync()).FilesUploaded);
        var beta = cluster.NewClient("beta");
        await beta.LoginAsync();
        Assert.Equal(1, (await beta.SyncAsync()).FilesDownloaded);
        cluster.KillStorageNode(1);
        var gamma = cluster.NewClient("gamma");
        await gamma.LoginAsync();
        Assert.Equal(1, (await gamma.SyncAsync()).FilesDownloaded);

        // Assert: the latest version, byte for byte, on both devices; the history holds both, newest first.
        Assert.Equal(second, File.ReadAllBytes(beta.PathOf("skew.bin")));
        Assert.Equal(second, File.ReadAllBytes(gamma.PathOf("skew.bin")));
        var history = await gamma.RunAsync("history", "skew.bin");
        Assert.True(history.ExitCode == 0, history.ToString());
        var v2 = history.Stdout.IndexOf("v2", StringComparison.Ordinal);
        var v1 = history.Stdout.IndexOf("v1", StringComparison.Ordinal);
        Assert.True(v2 >= 0 && v1 > v2, "history should list v2 then v1:\n" + history.Stdout);
    }
}
