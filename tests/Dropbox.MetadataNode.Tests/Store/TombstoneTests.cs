using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// Deleted chunks' tombstones: they keep a held-up "stored" event from resurrecting deleted bytes, yet bytes such an
/// event may describe (a re-upload never committed) are still collected, and the tombstones stay out of the scans of
/// stored chunks.
/// </summary>
public sealed class TombstoneTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromHours(1);

    private static StoreHarness Harness() => new(o => o with { GcGracePeriod = Grace, NodeTimeout = TimeSpan.FromDays(365), ReplicationFactor = 1 });

    private static ReportChunksStoredRequest StoredEvent(UserInfo user, ChunkRef c) =>
        new() { NodeId = StoreHarness.NodeA, Chunks = { new StoredChunk { ChunkId = c.Id.ToByteString(), Size = (uint)c.Size, StoredSize = (uint)c.Size, NamespaceId = user.Namespace.Value } } };

    private static async Task<ChunkRef> DeletedChunkAsync(StoreHarness h, UserInfo user)
    {
        var c = StoreHarness.Chunk(1);
        h.Stored(user, c); // uploaded, never committed
        h.Clock.Advance(Grace * 2);
        Assert.Equal(1, (await h.Store.RunGcOnceAsync(CancellationToken.None)).DeletedChunks);
        h.Clock.Advance(Grace * 2);
        await h.Store.RunGcOnceAsync(CancellationToken.None); // the candidate goes, the tombstone stays
        Assert.Equal(ChunkState.Deleted, ChunkLedger.Read(h.Store.Engine, c.Id)!.State);
        return c;
    }

    [Fact]
    public async Task A_deleted_chunk_uploaded_again_and_never_committed_is_collected_after_the_grace()
    {
        // Arrange: the chunk was collected; mallory plans and uploads it again (its event is not trusted) and never commits.
        using var h = Harness();
        var (mallory, _) = h.Store.AddUser("mallory");
        var c = await DeletedChunkAsync(h, mallory);
        Assert.Single(h.Store.PlanUpload(mallory, StoreHarness.Upload("a", 0, c)).Missing);
        h.Stored(mallory, c);
        Assert.True(h.Gateway.Holds(StoreHarness.NodeA, c.Id));

        // Act: within the grace nothing goes; past it, the collector runs again.
        Assert.Equal(0, (await h.Store.RunGcOnceAsync(CancellationToken.None)).DeletedChunks);
        Assert.True(h.Gateway.Holds(StoreHarness.NodeA, c.Id));
        h.Clock.Advance(Grace * 2);
        var result = await h.Store.RunGcOnceAsync(CancellationToken.None);

        // Assert: the bytes are gone from the node, the chunk is a tombstone again, and nothing is left to collect.
        Assert.Equal(1, result.DeletedChunks);
        Assert.False(h.Gateway.HoldsAnywhere(c.Id));
        h.Clock.Advance(Grace * 2);
        await h.Store.RunGcOnceAsync(CancellationToken.None);
        Assert.Empty(h.Store.Engine.ScanAll(h.Store.Engine.Gc));
        Assert.Equal(ChunkState.Deleted, ChunkLedger.Read(h.Store.Engine, c.Id)!.State);
        h.AssertConsistent();
    }

    [Fact]
    public async Task A_deleted_chunk_uploaded_again_and_committed_in_time_is_kept()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var c = await DeletedChunkAsync(h, alice);

        var committed = await h.PutFileAsync(alice, "a", 0, c);
        h.Clock.Advance(Grace * 2);
        var result = await h.Store.RunGcOnceAsync(CancellationToken.None);

        Assert.Equal(1UL, committed.Sequence);
        Assert.Equal(0, result.DeletedChunks);
        Assert.True(h.Gateway.Holds(StoreHarness.NodeA, c.Id));
        h.AssertConsistent();
    }

    [Fact]
    public async Task Tombstones_stay_out_of_the_chunk_scans_and_still_distrust_a_held_up_stored_event()
    {
        // Arrange: a deleted chunk, and one referenced chunk.
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var c = await DeletedChunkAsync(h, alice);
        h.Heartbeat();
        await h.PutFileAsync(alice, "kept", 0, StoreHarness.Chunk(2));

        // Act
        var visited = new List<ChunkId>();
        h.Store.VisitChunkRecords((id, _) =>
        {
            visited.Add(id);
            return true;
        });

        // Assert: re-replication's scan sees only the stored chunk; a held-up event of the deleted one is still not
        // trusted (a commit naming it is refused, its bytes are gone).
        // Alice holds a put token for it (as a client that planned and put nothing yet), so the commit asks the node.
        Assert.Equal([StoreHarness.Chunk(2).Id], visited);
        Assert.Single(h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c)).Missing);
        h.Store.ReportChunksStored(StoredEvent(alice, c));
        var calls = h.Gateway.HasCalls;
        var refused = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, c), CancellationToken.None));
        Assert.Equal(ErrorKind.NotFound, refused.Kind);
        Assert.Equal(1, h.Gateway.HasCalls - calls);
        Assert.Single(h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c)).Missing); // asked for again, no loop
        h.AssertConsistent();
    }
    [Fact]
    public async Task A_resent_event_from_a_node_listed_unconfirmed_stays_unconfirmed_after_another_node_confirms_the_chunk()
    {
        // Arrange: the chunk was collected from node A; A's held-up event arrives (A no longer holds the bytes) and
        // notes A unconfirmed. Bob uploads it again to node B (avoiding A) and commits: B confirms it.
        using var h = Harness();
        const string nodeB = "node-b";
        h.Store.Nodes.Register(new NodeRegistration(nodeB, "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0));
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        var c = await DeletedChunkAsync(h, alice);
        h.Heartbeat();
        h.Store.Nodes.Heartbeat(nodeB, 0, 0);
        h.Store.ReportChunksStored(StoredEvent(alice, c));
        Assert.False(h.Gateway.Holds(StoreHarness.NodeA, c.Id));
        var plan = h.Store.PlanUpload(bob, StoreHarness.Upload("b", 0, c) with { AvoidNodes = [StoreHarness.NodeA] });
        Assert.Equal([nodeB], plan.Missing.Select(m => m.Node.NodeId));
        h.Gateway.Put(nodeB, c.Id);
        var fromB = StoredEvent(bob, c);
        fromB.NodeId = nodeB;
        h.Store.ReportChunksStored(fromB);
        await h.Store.CommitAsync(bob, StoreHarness.Upload("b", 0, c), CancellationToken.None);
        Assert.Equal([nodeB], ChunkLedger.Read(h.Store.Engine, c.Id)!.Locations);

        // Act: A's outbox resends the same event.
        h.Store.ReportChunksStored(StoredEvent(alice, c));

        // Assert: A is still only an unconfirmed location; B is the one copy.
        var record = ChunkLedger.Read(h.Store.Engine, c.Id)!;
        Assert.Equal([nodeB], record.Locations);
        Assert.Contains(StoreHarness.NodeA, record.UnconfirmedLocations);
    }
}
