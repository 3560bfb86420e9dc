using Dropbox.MetadataNode.Tests.Infrastructure;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>A put stays outstanding on its node (so a drain is not "drained") until a copy there is recorded.</summary>
public sealed class DrainOutstandingPutTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromHours(1);

    [Fact]
    public async Task A_stored_event_that_is_not_trusted_leaves_the_put_outstanding_until_a_commit_records_the_copy()
    {
        // Arrange: alice's abandoned upload was collected (a tombstone remains); she plans the chunk again.
        using var h = new StoreHarness(o => o with { GcGracePeriod = Grace, NodeTimeout = TimeSpan.FromDays(365) });
        var (alice, _) = h.Store.AddUser("alice");
        var c = StoreHarness.Chunk(1);
        h.Stored(alice, c);
        h.Clock.Advance(Grace * 2);
        Assert.Equal(1, (await h.Store.RunGcOnceAsync(CancellationToken.None)).DeletedChunks);
        Assert.Single(h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c)).Missing);
        Assert.True(h.Store.Nodes.HasOutstandingPuts(StoreHarness.NodeA));

        // Act: the re-upload's event arrives; against the tombstone it is not trusted.
        h.Stored(alice, c);

        // Assert: still outstanding (the commit will ask the node and record a copy there); once it has, no longer.
        Assert.True(h.Store.Nodes.HasOutstandingPuts(StoreHarness.NodeA));
        Assert.Equal(1UL, (await h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, c), CancellationToken.None)).Sequence);
        Assert.False(h.Store.Nodes.HasOutstandingPuts(StoreHarness.NodeA));
        h.AssertConsistent();
    }
}
