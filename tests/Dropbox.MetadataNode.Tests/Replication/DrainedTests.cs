using Dropbox.MetadataNode.Domain.Replication;
using Dropbox.MetadataNode.Tests.Infrastructure;

namespace Dropbox.MetadataNode.Tests.Replication;

public sealed class DrainedTests
{
    [Fact]
    public void A_draining_node_named_by_a_put_token_still_usable_is_draining_not_drained_until_the_token_expires()
    {
        // Arrange: a client was handed a put token for node a (not used yet), then a is drained.
        using var h = new StoreHarness(o => o with { NodeTimeout = TimeSpan.FromDays(1) });
        var (alice, _) = h.Store.AddUser("alice");
        var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, StoreHarness.Chunk(3)));
        Assert.Single(plan.Missing);
        h.Store.SetDraining(StoreHarness.NodeA, true);

        // Assert: nothing stored to move, but the token may still bring a chunk: draining.
        Assert.Equal("draining", State(h));

        // Act: the token (and the wait for its event) runs out.
        h.Clock.Advance(h.Options.TokenLifetime + h.Options.EventWait + TimeSpan.FromSeconds(1));

        Assert.Equal("drained", State(h));
    }

    [Fact]
    public async Task An_uploaded_chunk_no_file_names_yet_holds_the_drain_until_the_collector_deletes_it()
    {
        using var h = new StoreHarness(o => o with { NodeTimeout = TimeSpan.FromDays(1), ReplicationFactor = 1 });
        var (alice, _) = h.Store.AddUser("alice");
        h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, StoreHarness.Chunk(3)));
        h.Stored(alice, StoreHarness.Chunk(3));
        h.Store.SetDraining(StoreHarness.NodeA, true);

        // The put landed (its token no longer counts), but a commit may still name the chunk and keep its only copy
        // on the draining node: draining, until the collector deletes the never-committed chunk after the grace.
        Assert.False(h.Store.Nodes.HasOutstandingPuts(StoreHarness.NodeA));
        Assert.Equal("draining", State(h));
        h.Clock.Advance(h.Options.GcGracePeriod * 2);
        h.Heartbeat();
        Assert.Equal(1, (await h.Store.RunGcOnceAsync(CancellationToken.None)).DeletedChunks);
        Assert.Equal("drained", State(h));
    }

    private static string State(StoreHarness h) =>
        NodeReport.Build(h.Store).Of(h.Store.Nodes.Require(StoreHarness.NodeA)).State;
}
