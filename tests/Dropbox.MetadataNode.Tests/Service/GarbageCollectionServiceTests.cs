using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Tests.Service;

/// <summary>The background retention/GC pass, wired in the host, deleting over gRPC from a storage node.</summary>
public sealed class GarbageCollectionServiceTests
{
    [Fact]
    [Trait("Category", "Slow")]
    public async Task BackgroundPass_DeletesPrunedChunksFromTheNode_AndKeepsLiveOnes()
    {
        await using var server = await MetadataServer.StartAsync(o => o with
        {
            KeepVersions = 1,
            // Long enough that a loaded 2-core CI machine finishes plan-then-upload inside it (500 ms expired there).
            TokenLifetime = TimeSpan.FromSeconds(5),
            GcGracePeriod = TimeSpan.FromSeconds(6),
            GcInterval = TimeSpan.FromMilliseconds(200),
        });
        var (alice, client) = server.AddUser("alice");
        var old = MetadataServer.Chunk(1);
        var live = MetadataServer.Chunk(2);
        var v1 = await server.PutFileAsync(client, alice, "a", 0, old);
        await server.PutFileAsync(client, alice, "a", v1.Sequence, live); // KeepVersions = 1 prunes v1

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (server.Node.Chunks.ContainsKey(old.Id.ToChunkId()) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.False(server.Node.Chunks.ContainsKey(old.Id.ToChunkId()));
        Assert.True(server.Node.Chunks.ContainsKey(live.Id.ToChunkId()));
        Assert.Empty(server.Store.CheckConsistency());
        server.AssertNoErrorsLogged();
    }
}
