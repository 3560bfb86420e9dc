using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using static Dropbox.MetadataNode.Tests.Replication.ReplanHarness;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>
/// A plan made after the client found a node down, or while a node is not live, does not count the account's uploaded,
/// uncommitted copies on that node: they are put again on the other nodes (found by a CI run of the failover test: a
/// chunk committed with its only copy on a node killed mid-upload, re-replication then had no live node to copy it
/// from). <see cref="OwnPutNodesTests"/> has the rule's other cases.
/// </summary>
public sealed class AvoidedNodeReplanTests
{

    [Fact]
    public async Task A_replan_avoiding_the_node_that_holds_the_only_copy_puts_the_chunks_again_on_the_others_and_the_commit_names_them()
    {
        // Arrange: three nodes, two replicas; alice's puts landed on node a only (node a then died, the puts to the other
        // replicas were cut off).
        using var h = Create();
        var (alice, _) = h.Store.AddUser("alice");
        var chunks = Enumerable.Range(1, 12).Select(i => StoreHarness.Chunk(i)).ToArray();
        Assert.Equal(24, h.Store.PlanUpload(alice, StoreHarness.Upload("big.bin", 0, chunks)).Missing.Count);
        h.Stored(alice, chunks);

        // Act: the client plans again, avoiding node a (single plan, batch plan and window plan).
        var single = h.Store.PlanUpload(alice, StoreHarness.Upload("big.bin", 0, chunks) with { AvoidNodes = [StoreHarness.NodeA] });
        var batch = h.Store.PlanMany(alice, [StoreHarness.Upload("big.bin", 0, chunks) with { AvoidNodes = [StoreHarness.NodeA] }]);
        var window = h.Store.PlanChunks(alice, ChunkWindow.Create("big.bin", 12_000, 0, chunks) with { AvoidNodes = [StoreHarness.NodeA] });

        // Assert: every chunk is put again, twice, on nodes b and c; once they report, the commit's version names them.
        foreach (var puts in new[] { single.Missing, batch[0].Missing, window.Missing })
        {
            Assert.Equal(24, puts.Count);
            Assert.All(puts.GroupBy(p => p.ChunkId), copies => Assert.Equal([NodeB, NodeC], copies.Select(c => c.Node.NodeId).Order()));
        }

        Report(h, alice, NodeB, chunks);
        Report(h, alice, NodeC, chunks);
        Assert.IsType<Committed>(await h.Store.CommitAsync(alice, StoreHarness.Upload("big.bin", 0, chunks), CancellationToken.None));
        Assert.All(chunks, c => Assert.Equal([StoreHarness.NodeA, NodeB, NodeC], ChunkLedger.Read(h.Store.Engine, c.Id)!.Locations.Order()));
    }

    [Fact]
    public void A_plan_without_an_avoid_list_puts_the_chunks_again_while_a_node_is_down()
    {
        // Arrange: alice's puts landed on node a only; node a then stops heartbeating (killed), b and c go on.
        using var h = Create(nodeTimeout: TimeSpan.FromSeconds(35));
        var (alice, _) = h.Store.AddUser("alice");
        var chunks = Enumerable.Range(1, 6).Select(i => StoreHarness.Chunk(i)).ToArray();
        h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunks));
        h.Stored(alice, chunks);
        var whileLive = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunks));
        h.Clock.Advance(TimeSpan.FromSeconds(40));
        h.Store.Nodes.Heartbeat(NodeB, 0, 0);
        h.Store.Nodes.Heartbeat(NodeC, 0, 0);

        // Act: a new pass (or a restarted client, or another device) plans the file with no avoid list.
        var whileDown = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunks));

        // Assert: while a was live, the second copy of each was asked for elsewhere; once a is not, both, on b and c.
        Assert.Equal(6, whileLive.Missing.Count);
        Assert.All(whileLive.Missing, p => Assert.NotEqual(StoreHarness.NodeA, p.Node.NodeId));
        Assert.Equal(12, whileDown.Missing.Count);
        Assert.All(whileDown.Missing, p => Assert.NotEqual(StoreHarness.NodeA, p.Node.NodeId));
    }

    [Fact]
    public void A_replan_that_avoids_nothing_answers_held_for_chunks_whose_puts_landed_on_two_nodes_and_one_that_avoids_every_node_asks_again()
    {
        using var h = Create();
        var (alice, _) = h.Store.AddUser("alice");
        var chunks = Enumerable.Range(1, 6).Select(i => StoreHarness.Chunk(i)).ToArray();
        h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunks));
        h.Stored(alice, chunks);
        Report(h, alice, NodeB, chunks);

        Assert.Empty(h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunks)).Missing);

        // An avoided node's copy never counts, even when every node is avoided (the copies may have gone with the nodes
        // the client found down): every copy is asked for, placement filling them from the avoided nodes all the same.
        var avoidingAll = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunks) with { AvoidNodes = [StoreHarness.NodeA, NodeB, NodeC] });
        Assert.Equal(12, avoidingAll.Missing.Count);
    }

    [Fact]
    public void A_replan_avoiding_a_node_answers_the_same_whether_or_not_another_account_stores_the_content_elsewhere()
    {
        // Act: alice put the content on node a only and plans again avoiding it, once where bob committed the same
        // content (copies on b and c), once where nobody else has it.
        var withBob = AliceReplans(bobStoresIt: true);
        var alone = AliceReplans(bobStoresIt: false);

        // Assert: both chunks asked for on b and c either way: bob's copies make no difference to alice's answer.
        Assert.Equal(alone, withBob);
        Assert.Equal(["8:node-c", "8:node-b", "7:node-c", "7:node-b"], alone);
    }

    /// <summary>Alice's replan avoiding node a, as "seed:node" per put, sorted.</summary>
    private static List<string> AliceReplans(bool bobStoresIt)
    {
        using var h = Create();
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        var shared = StoreHarness.Chunk(7);
        var own = StoreHarness.Chunk(8);
        if (bobStoresIt)
        {
            h.Store.PlanUpload(bob, StoreHarness.Upload("b", 0, shared));
            Report(h, bob, NodeB, shared);
            Report(h, bob, NodeC, shared);
        }

        h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, shared, own));
        h.Stored(alice, shared, own);
        var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, shared, own) with { AvoidNodes = [StoreHarness.NodeA] });
        return plan.Missing.Select(p => $"{(p.ChunkId == shared.Id ? 7 : 8)}:{p.Node.NodeId}").OrderDescending().ToList();
    }
}
