using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Domain.Replication;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>A put stays outstanding on its node (so a drain is not "drained") until a copy there is recorded.</summary>
public sealed class DrainOutstandingPutTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromHours(1);
    private const string NodeB = "node-b";

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

    [Fact]
    public async Task A_commit_after_the_drain_was_reported_drained_does_not_record_the_only_copy_on_the_draining_node()
    {
        // Arrange: as above, alice's re-upload of a collected chunk lands on node a with an untrusted event; then node a
        // is drained (node b takes new chunks) and the put's own entry expires: "nodes list" says node a is drained.
        using var h = new StoreHarness(o => o with { GcGracePeriod = Grace, NodeTimeout = TimeSpan.FromDays(365), ReplicationFactor = 1 });
        h.Store.Nodes.Register(new NodeRegistration(NodeB, "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0));
        var (alice, _) = h.Store.AddUser("alice");
        var c = StoreHarness.Chunk(1);
        h.Stored(alice, c);
        h.Clock.Advance(Grace * 2);
        Assert.Equal(1, (await h.Store.RunGcOnceAsync(CancellationToken.None)).DeletedChunks);
        var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c) with { AvoidNodes = [NodeB] });
        Assert.Equal(StoreHarness.NodeA, Assert.Single(plan.Missing).Node.NodeId);
        h.Stored(alice, c);
        h.Store.Nodes.SetDraining(StoreHarness.NodeA, true);
        h.Clock.Advance(h.Options.TokenLifetime + h.Options.EventWait + TimeSpan.FromMinutes(1));
        h.Heartbeat();
        h.Store.Nodes.Heartbeat(NodeB, 0, 0);
        var nodeA = h.Store.Nodes.Require(StoreHarness.NodeA);
        Assert.Equal("drained", NodeReport.Build(h.Store).Of(nodeA).State);

        // Act: the file's commit comes now.
        var refused = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, c), CancellationToken.None));

        // Assert: refused as missing (the client puts the chunk elsewhere); no copy recorded on the drained node.
        Assert.Equal(ErrorKind.NotFound, refused.Kind);
        Assert.False(ChunkLedger.IsStored(ChunkLedger.Read(h.Store.Engine, c.Id)));
        Assert.Equal("drained", NodeReport.Build(h.Store).Of(nodeA).State);
        Assert.Equal(NodeB, Assert.Single(h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c)).Missing).Node.NodeId);
    }

    [Fact]
    public async Task A_node_that_begins_draining_while_it_answers_a_commit_gets_no_copy_recorded_by_that_answer()
    {
        // Arrange: as above, alice's re-upload of a collected chunk lands on node a with an untrusted event, so only
        // node a's answer to her commit can record the copy. While node a answers, it is drained and the put's own
        // entry expires: "nodes list" says node a is drained before the commit records anything.
        using var h = new StoreHarness(o => o with { GcGracePeriod = Grace, NodeTimeout = TimeSpan.FromDays(365), ReplicationFactor = 1 });
        h.Store.Nodes.Register(new NodeRegistration(NodeB, "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0));
        var (alice, _) = h.Store.AddUser("alice");
        var c = StoreHarness.Chunk(1);
        h.Stored(alice, c);
        h.Clock.Advance(Grace * 2);
        Assert.Equal(1, (await h.Store.RunGcOnceAsync(CancellationToken.None)).DeletedChunks);
        h.Heartbeat();
        h.Store.Nodes.Heartbeat(NodeB, 0, 0);
        var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c) with { AvoidNodes = [NodeB] });
        Assert.Equal(StoreHarness.NodeA, Assert.Single(plan.Missing).Node.NodeId);
        h.Stored(alice, c);
        string? stateWhileAnswering = null;
        h.Gateway.AfterHas = () =>
        {
            h.Gateway.AfterHas = null;
            h.Store.Nodes.SetDraining(StoreHarness.NodeA, true);
            h.Clock.Advance(h.Options.TokenLifetime + h.Options.EventWait + TimeSpan.FromMinutes(1));
            h.Heartbeat();
            h.Store.Nodes.Heartbeat(NodeB, 0, 0);
            stateWhileAnswering = NodeReport.Build(h.Store).Of(h.Store.Nodes.Require(StoreHarness.NodeA)).State;
            return Task.CompletedTask;
        };

        // Act: node a answers "held" to the commit's check.
        var refused = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, c), CancellationToken.None));

        // Assert: refused as missing (the client puts the chunk elsewhere); no copy recorded on the drained node.
        Assert.Equal("drained", stateWhileAnswering);
        Assert.Equal(ErrorKind.NotFound, refused.Kind);
        Assert.False(ChunkLedger.IsStored(ChunkLedger.Read(h.Store.Engine, c.Id)));
        Assert.Equal("drained", NodeReport.Build(h.Store).Of(h.Store.Nodes.Require(StoreHarness.NodeA)).State);
        Assert.Equal(NodeB, Assert.Single(h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c)).Missing).Node.NodeId);
    }

    [Fact]
    public void A_put_that_lands_while_the_node_report_is_built_keeps_the_draining_node_from_showing_drained()
    {
        // Arrange: node a is draining and alice holds a put token for a chunk on it (node b takes the others).
        using var h = new StoreHarness(o => o with { NodeTimeout = TimeSpan.FromDays(365), ReplicationFactor = 1 });
        h.Store.Nodes.Register(new NodeRegistration(NodeB, "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0));
        var (alice, _) = h.Store.AddUser("alice");
        var c = StoreHarness.Chunk(1);
        var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c) with { AvoidNodes = [NodeB] });
        Assert.Equal(StoreHarness.NodeA, Assert.Single(plan.Missing).Node.NodeId);
        h.Store.Nodes.SetDraining(StoreHarness.NodeA, true);

        // Act: the put's trusted event lands between the report's two reads (the outstanding puts, the chunk records).
        var report = NodeReport.Build(h.Store, betweenSteps: () => h.Stored(alice, c));

        // Assert: the report saw the put one way or the other: node a still holds the chunk's only copy.
        Assert.Equal("draining", report.Of(h.Store.Nodes.Require(StoreHarness.NodeA)).State);
        Assert.Equal("draining", NodeReport.Build(h.Store).Of(h.Store.Nodes.Require(StoreHarness.NodeA)).State);
    }
}
