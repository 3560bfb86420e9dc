using System.Security.Cryptography;

namespace Dropbox.IntegrationTests.Client;

/// <summary>
/// The docker compose topology as processes on 127.0.0.1: one metadata node, three storage nodes, replication 2,
/// TLS on every node (certificates from <c>tls init</c>, as the compose file's tls-init service makes them).
/// </summary>
[Trait("Category", "Slow")]
public sealed class MultiNodeTests : IDisposable
{
    private readonly ClientTempDir _dir = new();

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

        // Act: lose one storage node without warning.
        cluster.KillStorageNode(2);

        // Assert: a new client still gets every byte, from the surviving replicas.
        var beta = cluster.NewClient("beta");
        await beta.LoginAsync();
        var down = await beta.SyncAsync();
        Assert.Equal(1, down.FilesDownloaded);
        Assert.Equal(content, File.ReadAllBytes(beta.PathOf("video.bin")));
    }
}
