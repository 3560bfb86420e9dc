using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using static Dropbox.MetadataNode.Tests.Replication.ReplanHarness;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>
/// Where an account's own copies of a chunk it put and has not committed do not count (found by review probes of the
/// own-put-nodes rule): on a node the client avoids, even when it avoids every node a put could go to; on a node that is
/// not live, for the plan and for the commit; and where they count for part of the target only, their grace clock is
/// restarted as for a chunk held in full, so the collector keeps what the plan counted.
/// </summary>
public sealed class OwnCopiesNotCountedTests
{
    [Fact]
    public void A_replan_avoiding_every_node_a_put_could_go_to_does_not_count_the_copy_on_the_avoided_node()
    {
        // Arrange: three nodes, two replicas; b and c report themselves full, so a is the only node a put can go to.
        // Alice's put landed on a and a reported it; a was then killed before it answered her, so her client avoids a.
        using var h = Create();
        h.Store.Nodes.Heartbeat(NodeB, 0, 0, full: true);
        h.Store.Nodes.Heartbeat(NodeC, 0, 0, full: true);
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(11);
        var first = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk));
        Assert.Equal(["0:node-a"], Puts(first, [chunk]));
        h.Stored(alice, chunk);

        // Act: the replan names a (the node whose put just failed), alone and in a batch.
        var replan = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk) with { AvoidNodes = [StoreHarness.NodeA] });
        var batch = h.Store.PlanMany(alice, [StoreHarness.Upload("f", 0, chunk) with { AvoidNodes = [StoreHarness.NodeA] }])[0];

        // Assert: the copy on the avoided node does not count, so the put is asked for again (on a all the same: placement
        // ranks avoided nodes last but still places on them), and fails while a is down rather than being answered "held".
        Assert.Equal(["0:node-a"], Puts(replan, [chunk]));
        Assert.Equal(["0:node-a"], Puts(batch, [chunk]));
    }

    [Fact]
    public async Task With_no_live_node_a_put_that_landed_on_one_node_is_not_answered_held_and_not_committed()
    {
        // Arrange: three nodes, two replicas; alice's put landed on a only (the second replica's put was cut off), then
        // every node fell silent for longer than --node-dead-after (a killed for good, b and c restarting).
        using var h = Create(nodeTimeout: TimeSpan.FromSeconds(35));
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(12);
        h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk));
        h.Stored(alice, chunk);
        h.Clock.Advance(TimeSpan.FromSeconds(40));

        // Act: a new pass plans and commits.
        var plan = Record.Exception(() => h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk)));
        var commit = await Record.ExceptionAsync(() => h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, chunk), CancellationToken.None));

        // Assert: neither answers as if the file were safely stored: its only copy is on a node that is not live. The plan
        // is refused as unavailable (as for a chunk nobody put), the commit as missing.
        var planned = plan is DropboxException e ? e.Kind.ToString() : "held";
        var committed = commit is null ? "acked on " + string.Join(",", ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations) : "refused";
        Assert.Equal("plan Unavailable; commit refused", $"plan {planned}; commit {committed}");

        // Once a and b are back, the copy on a counts again: one more put, on b, and the commit has both copies.
        h.Heartbeat();
        h.Store.Nodes.Heartbeat(NodeB, 0, 0);
        var again = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk));
        Assert.Equal(["0:node-b"], Puts(again, [chunk]));
        PutAll(h, alice, again, [chunk]);
        Assert.IsType<Committed>(await h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, chunk), CancellationToken.None));
        Assert.Equal(2, ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations.Count);
    }

    [Fact]
    public void Alices_plan_with_no_live_node_is_the_same_whether_or_not_someone_once_stored_and_deleted_the_content()
    {
        // Act: alice put the chunk on a; before, someone else stored the same content and it was collected (a
        // tombstone), or nobody ever did. Then every node fell silent.
        var afterTombstone = AlicesPlanWithNoLiveNode(tombstone: true);
        var fresh = AlicesPlanWithNoLiveNode(tombstone: false);

        // Assert: the tombstone (another account's history) makes no difference to her answer.
        Assert.Equal(fresh, afterTombstone);
        Assert.Equal("live: [0:node-c]; none live: Unavailable", fresh);
    }

    [Theory]
    [InlineData("single")]
    [InlineData("batch")]
    public async Task A_plan_that_asks_only_for_the_lacking_copy_keeps_the_copy_it_counted_from_the_collector(string call)
    {
        // Arrange: three nodes, two replicas; alice's put landed on a only, almost a grace period ago.
        using var h = Create();
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(13);
        h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk));
        h.Stored(alice, chunk);
        h.Clock.Advance(h.Options.GcGracePeriod - TimeSpan.FromSeconds(1));

        // Act: her new pass plans (one more copy, elsewhere, counting the one on a); the collector runs while her put
        // of that copy is on its way.
        var upload = StoreHarness.Upload("f", 0, chunk);
        var plan = call == "single" ? h.Store.PlanUpload(alice, upload) : h.Store.PlanMany(alice, [upload])[0];
        h.Clock.Advance(TimeSpan.FromSeconds(2));
        var gc = await h.Store.RunGcOnceAsync(CancellationToken.None);

        // Assert: the copy the plan counted is kept (its grace clock restarted, as a plan answering "held" restarts it),
        // so the commit after the put finds two copies.
        Assert.Equal("1 puts; 0 collected", $"{plan.Missing.Count} puts; {gc.DeletedChunks} collected");
        PutAll(h, alice, plan, [chunk]);
        Assert.IsType<Committed>(await h.Store.CommitAsync(alice, upload, CancellationToken.None));
        Assert.Equal(2, ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations.Count);
        h.AssertConsistent();
    }

    /// <summary>Alice's plan of a chunk she put on a, while every node is live and once none is: "held", or the error.</summary>
    private static string AlicesPlanWithNoLiveNode(bool tombstone)
    {
        using var h = Create(nodeTimeout: TimeSpan.FromSeconds(35));
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(14);
        if (tombstone)
        {
            // What the collector leaves of content someone else stored and deleted: a DELETED record, kept.
            h.Store.Transactions.Mutate<object?>(null, (batch, _) =>
            {
                batch.PutChunk(chunk.Id, new ChunkRecord { State = ChunkState.Deleted, Size = (uint)chunk.Size, StoredSize = (uint)chunk.Size, ZeroSinceUnixMs = h.Clock.GetUtcNow().ToUnixTimeMilliseconds() });
                return null;
            });
        }

        h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk));
        h.Stored(alice, chunk);
        var whileLive = Puts(h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk)), [chunk]);
        h.Clock.Advance(TimeSpan.FromSeconds(40));
        var plan = Record.Exception(() => h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk)));
        return $"live: [{string.Join(",", whileLive)}]; none live: {(plan is DropboxException e ? e.Kind.ToString() : "held")}";
    }
}
