using System.Security.Cryptography;
using Dropbox.MetadataNode.Cluster;
using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Tokens;

namespace Dropbox.MetadataNode.Tests.Cluster;

public sealed class GrpcStorageNodeGatewayTests
{
    private static List<ChunkId> Ids(int count) =>
        Enumerable.Range(0, count).Select(i => new ChunkId(SHA256.HashData(BitConverter.GetBytes(i)))).ToList();

    [Fact]
    public async Task HasChunks_ForMoreIdsThanOneNodeMessageHolds_AnswersEveryId()
    {
        using var dir = new TempFolder();
        await using var node = await FakeStorageNode.StartAsync("node-1", dir.Sub("keys"));
        var ids = Ids(40_000); // ~1.4 MB of ids: past the node's 1 MiB + 64 KiB message limit in one call
        for (var i = 0; i < ids.Count; i += 2)
        {
            node.Chunks[ids[i]] = true;
        }

        using var gateway = new GrpcStorageNodeGateway(ChunkTokenService.ForKeyDirectory(dir.Sub("keys")));
        var record = new StorageNodeInfo { NodeId = node.NodeId, GrpcUrl = node.Url, HttpUrl = node.Url };

        var present = await gateway.HasChunksAsync(record, ids, CancellationToken.None);

        Assert.Equal(ids.Count, present.Length);
        for (var i = 0; i < ids.Count; i++)
        {
            Assert.Equal(i % 2 == 0, present[i]);
        }
    }

    [Fact]
    public async Task DeleteChunks_ForMoreIdsThanOneNodeMessageHolds_DeletesEveryId()
    {
        using var dir = new TempFolder();
        await using var node = await FakeStorageNode.StartAsync("node-1", dir.Sub("keys"));
        var ids = Ids(40_000);
        foreach (var id in ids)
        {
            node.Chunks[id] = true;
        }

        using var gateway = new GrpcStorageNodeGateway(ChunkTokenService.ForKeyDirectory(dir.Sub("keys")));
        var record = new StorageNodeInfo { NodeId = node.NodeId, GrpcUrl = node.Url, HttpUrl = node.Url };

        Assert.Equal(ids.Count, await gateway.DeleteChunksAsync(record, ids, CancellationToken.None));
        Assert.Empty(node.Chunks);
    }
}
