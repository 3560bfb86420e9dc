using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>Placement sends new chunks away from a storage node whose heartbeat says its disk is full.</summary>
public sealed class FullNodePlacementTests
{
    private const string NodeB = "node-b";

    [Fact]
    public void New_chunks_go_to_the_other_node_while_one_reports_itself_full_and_come_back_once_it_has_space()
    {
        // Arrange: two live nodes, one replica per chunk, node a's heartbeat says it is full.
        using var h = new StoreHarness(o => o with { NodeTimeout = TimeSpan.FromDays(1), ReplicationFactor = 1 });
        h.Store.Nodes.Register(new NodeRegistration(NodeB, "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0));
        var (alice, _) = h.Store.AddUser("alice");
        h.Store.Nodes.Heartbeat(StoreHarness.NodeA, 0, 0, full: true);
        var chunks = Enumerable.Range(1, 40).Select(i => StoreHarness.Chunk(i)).ToArray();

        // Act: plan 40 new chunks.
        var whileFull = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunks));

        // Assert: every put names node b; once node a has space again, rendezvous hashing gives it some of them back.
        Assert.Equal(40, whileFull.Missing.Count);
        Assert.All(whileFull.Missing, put => Assert.Equal(NodeB, put.Node.NodeId));
        h.Store.Nodes.Heartbeat(StoreHarness.NodeA, 0, 0, full: false);
        var withSpace = h.Store.PlanUpload(alice, StoreHarness.Upload("g", 0, chunks));
        Assert.Contains(withSpace.Missing, put => put.Node.NodeId == StoreHarness.NodeA);
    }

    [Fact]
    public void A_node_that_registers_full_gets_no_new_chunks_until_a_heartbeat_says_it_has_space()
    {
        // Arrange: node b starts full (its registration says so; no heartbeat yet).
        using var h = new StoreHarness(o => o with { NodeTimeout = TimeSpan.FromDays(1), ReplicationFactor = 1 });
        h.Store.Nodes.Register(new NodeRegistration(NodeB, "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0, Full: true));
        var (alice, _) = h.Store.AddUser("alice");
        var chunks = Enumerable.Range(1, 40).Select(i => StoreHarness.Chunk(i)).ToArray();

        var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunks));

        Assert.All(plan.Missing, put => Assert.Equal(StoreHarness.NodeA, put.Node.NodeId));
        Assert.True(h.Store.Nodes.Require(NodeB).Full);
    }

    [Fact]
    public void A_plan_that_names_a_node_the_client_found_full_places_elsewhere_unless_no_other_node_is_left()
    {
        // Arrange: two live nodes, neither reported full yet; the client's put to node a was just refused as full.
        using var h = new StoreHarness(o => o with { NodeTimeout = TimeSpan.FromDays(1), ReplicationFactor = 1 });
        h.Store.Nodes.Register(new NodeRegistration(NodeB, "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0));
        var (alice, _) = h.Store.AddUser("alice");
        var chunks = Enumerable.Range(1, 40).Select(i => StoreHarness.Chunk(i)).ToArray();

        var avoidingA = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunks) with { AvoidNodes = [StoreHarness.NodeA] });
        var avoidingBoth = h.Store.PlanUpload(alice, StoreHarness.Upload("g", 0, chunks) with { AvoidNodes = [StoreHarness.NodeA, NodeB] });

        Assert.All(avoidingA.Missing, put => Assert.Equal(NodeB, put.Node.NodeId));
        Assert.Equal(40, avoidingBoth.Missing.Count); // every node avoided: placed as usual, the put's refusal says why
        Assert.Throws<Dropbox.Shared.Errors.DropboxException>(() => FileUpload.ValidAvoidNodes(Enumerable.Repeat("n", FileUpload.MaxAvoidNodes + 1).ToList()));
    }

    [Fact]
    public void A_batch_plan_and_a_window_plan_that_name_a_node_to_avoid_place_every_put_elsewhere()
    {
        // Arrange: two live nodes, neither reported full; the client found node a full (or down) between heartbeats.
        using var h = new StoreHarness(o => o with { NodeTimeout = TimeSpan.FromDays(1), ReplicationFactor = 1 });
        h.Store.Nodes.Register(new NodeRegistration(NodeB, "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0));
        var (alice, _) = h.Store.AddUser("alice");
        var uploads = Enumerable.Range(0, 20).Select(i => StoreHarness.Upload($"small/{i}", 0, StoreHarness.Chunk(100 + i), StoreHarness.Chunk(200 + i))).ToList();
        uploads[3] = uploads[3] with { AvoidNodes = [StoreHarness.NodeA] }; // one file's list applies to the whole call
        var window = ChunkWindow.Create("big.bin", 40_000, 0, Enumerable.Range(300, 40).Select(i => StoreHarness.Chunk(i)).ToList()) with { AvoidNodes = [StoreHarness.NodeA] };

        // Act
        var batch = h.Store.PlanMany(alice, uploads);
        var windowPlan = h.Store.PlanChunks(alice, window);

        // Assert: 40 + 40 new chunks, every put on node b (rendezvous hashing alone gives node a about half).
        Assert.Equal(40, batch.Sum(p => p.Missing.Count));
        Assert.All(batch.SelectMany(p => p.Missing), put => Assert.Equal(NodeB, put.Node.NodeId));
        Assert.Equal(40, windowPlan.Missing.Count);
        Assert.All(windowPlan.Missing, put => Assert.Equal(NodeB, put.Node.NodeId));
    }

    [Fact]
    public void A_plan_that_names_nodes_to_avoid_still_places_every_chunk_on_as_many_nodes_as_the_replication_factor()
    {
        // Arrange: replication factor 2 on three live nodes; the client found a and b slow (or full) between heartbeats.
        using var h = new StoreHarness(o => o with { NodeTimeout = TimeSpan.FromDays(1), ReplicationFactor = 2 });
        h.Store.Nodes.Register(new NodeRegistration(NodeB, "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0));
        h.Store.Nodes.Register(new NodeRegistration("node-c", "http://127.0.0.1:3", "http://127.0.0.1:3", 0, 0));
        var (alice, _) = h.Store.AddUser("alice");
        string[] avoid = [StoreHarness.NodeA, NodeB];
        var chunks = Enumerable.Range(1, 30).Select(i => StoreHarness.Chunk(i)).ToArray();
        var uploads = Enumerable.Range(0, 10).Select(i => StoreHarness.Upload($"small/{i}", 0, StoreHarness.Chunk(100 + i)) with { AvoidNodes = avoid }).ToList();
        var window = ChunkWindow.Create("big.bin", 30_000, 0, Enumerable.Range(300, 30).Select(i => StoreHarness.Chunk(i)).ToList()) with { AvoidNodes = avoid };

        // Act: the three plan calls.
        var single = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunks) with { AvoidNodes = avoid });
        var batch = h.Store.PlanMany(alice, uploads).SelectMany(p => p.Missing).ToList();
        var windowPlan = h.Store.PlanChunks(alice, window);

        // Assert: each chunk goes to two distinct nodes, the one not avoided first, an avoided one filling the second copy.
        foreach (var puts in new[] { single.Missing.ToList(), batch, windowPlan.Missing.ToList() })
        {
            Assert.All(puts.GroupBy(p => p.ChunkId), copies =>
            {
                Assert.Equal(2, copies.Select(c => c.Node.NodeId).Distinct().Count());
                Assert.Equal("node-c", copies.First().Node.NodeId);
            });
        }

        Assert.Equal(60, single.Missing.Count);
        Assert.Equal(20, batch.Count);
        Assert.Equal(60, windowPlan.Missing.Count);
    }

    [Fact]
    public void When_every_node_is_full_a_plan_still_names_one_so_the_put_gets_the_nodes_clear_refusal()
    {
        using var h = new StoreHarness(o => o with { NodeTimeout = TimeSpan.FromDays(1), ReplicationFactor = 1 });
        var (alice, _) = h.Store.AddUser("alice");
        h.Store.Nodes.Heartbeat(StoreHarness.NodeA, 0, 0, full: true);

        var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, StoreHarness.Chunk(1)));

        Assert.Equal(StoreHarness.NodeA, Assert.Single(plan.Missing).Node.NodeId);
    }
}
