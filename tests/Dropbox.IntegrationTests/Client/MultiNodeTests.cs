using System.Net;
using System.Security.Cryptography;
using Dropbox.IntegrationTests.Observability;
using Dropbox.Shared.Tls;

namespace Dropbox.IntegrationTests.Client;

/// <summary>
/// The docker compose topology as processes on 127.0.0.1: one metadata node, three storage nodes, replication 2,
/// TLS on every node (certificates from <c>tls init</c>, as the compose file's tls-init service makes them).
/// </summary>
[Trait("Category", "Slow")]
public sealed class MultiNodeTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task With_replication_two_a_file_stays_readable_after_any_one_storage_node_is_killed()
    {
        // Arrange: a 6 MiB file of random bytes (several chunks, spread over the nodes by rendezvous hashing).
        using var cluster = await ClientCluster.StartAsync(_dir, storageNodes: 3, replication: 2, tls: true);
        var alpha = cluster.NewClient("alpha");
        await alpha.LoginAsync();
        var content = RandomNumberGenerator.GetBytes(6 * 1024 * 1024);
        alpha.Write("video.bin", content);
        var up = await alpha.SyncAsync();
        Assert.Equal(1, up.FilesUploaded);
        Assert.StartsWith("https://", cluster.MetadataUrl, StringComparison.Ordinal);

        // Every node answers probes and scrapes over HTTP/1.1 (TLS, trusting the CA), as a load balancer and
        // Prometheus would reach them; the counters saw the upload, twice over on the storage side (R = 2).
        using (var http = new HttpClient(ServerTrust.ForCaFile(cluster.CaFile!, "the cluster CA").CreateHandler()) { Timeout = TimeSpan.FromSeconds(30) })
        {
            var metadataMetrics = await PrometheusText.ScrapeAsync(http, cluster.MetadataMetricsUrl!);
            var planned = metadataMetrics.Single("dropbox_metadata_chunks_planned_total");
            Assert.True(planned >= 1, metadataMetrics.Text);
            Assert.True(metadataMetrics.Sum("dropbox_grpc_server_handled_total", ("code", "OK")) >= 2, metadataMetrics.Text);
            Assert.Equal(3, metadataMetrics.Sum("dropbox_storage_nodes", ("state", "live")));
            Assert.Equal(0, metadataMetrics.Single("dropbox_chunks_under_replicated"));
            Assert.Equal("ok", await GetHttp11Async(http, cluster.MetadataMetricsUrl!.Replace("/metrics", "/healthz", StringComparison.Ordinal)));
            Assert.StartsWith("ready", await GetHttp11Async(http, cluster.MetadataMetricsUrl!.Replace("/metrics", "/readyz", StringComparison.Ordinal)), StringComparison.Ordinal);

            double held = 0, stored = 0;
            foreach (var (node, nodeMetricsUrl) in cluster.StorageHttpUrls.Zip(cluster.StorageMetricsUrls))
            {
                Assert.StartsWith("ok", await GetHttp11Async(http, node + "/healthz"), StringComparison.Ordinal);
                Assert.StartsWith("ready", await GetHttp11Async(http, node + "/readyz"), StringComparison.Ordinal);
                var nodeMetrics = await PrometheusText.ScrapeAsync(http, nodeMetricsUrl);
                held += nodeMetrics.Single("dropbox_storage_chunks");
                stored += nodeMetrics.Single("dropbox_storage_chunks_stored_total");
            }

            // Each of the file's chunks sits on exactly two nodes.
            Assert.True(held >= 2 && held % 2 == 0 && stored >= held, $"held {held}, stored {stored}");
        }

        // Act: lose one storage node without warning.
        cluster.KillStorageNode(2);

        // Assert: a new client still gets every byte, from the surviving replicas.
        var beta = cluster.NewClient("beta");
        await beta.LoginAsync();
        var down = await beta.SyncAsync();
        Assert.Equal(1, down.FilesDownloaded);
        Assert.Equal(content, File.ReadAllBytes(beta.PathOf("video.bin")));
    }

    private static async Task<string> GetHttp11Async(HttpClient http, string url)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url) { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK && response.Version == HttpVersion.Version11, $"GET {url}: {(int)response.StatusCode} HTTP/{response.Version} {body}");
        return body;
    }
}
