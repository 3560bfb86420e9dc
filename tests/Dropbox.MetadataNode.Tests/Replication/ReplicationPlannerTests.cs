using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Domain.Replication;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Tests.Replication;

public sealed class ReplicationPlannerTests
{
    private const long Now = 1_000_000;
    private const long Timeout = 3_000;

    private static StorageNodeInfo Node(string id, bool live = true, bool draining = false, bool full = false) => new()
    {
        NodeId = id,
        GrpcUrl = $"http://{id}:1",
        LastHeartbeatUnixMs = live ? Now - 100 : Now - Timeout - 1,
        Draining = draining,
        Full = full,
    };

    [Fact]
    public void A_full_node_is_no_target_for_a_copy_but_a_copy_it_already_holds_counts()
    {
        var id = ChunkId.Compute([4, 5, 6]);
        var copies = new List<ReplicaCopy>();

        // One copy on a, b and c full: nowhere to copy to (a full node refuses every put).
        var none = ReplicationPlanner.Plan(id, Stored("a"), States(Node("a"), Node("b", full: true), Node("c", full: true)), 2, copies);
        Assert.Equal(ReplicationPlanner.Verdict.Enough, none);
        Assert.Empty(copies);

        // With d not full, the copy goes to d; and a copy on a full node counts toward the factor.
        Assert.Equal(ReplicationPlanner.Verdict.Copies, ReplicationPlanner.Plan(id, Stored("a"), States(Node("a"), Node("b", full: true), Node("d")), 2, copies));
        Assert.Equal("d", Assert.Single(copies).Target.NodeId);
        Assert.False(ReplicationPlanner.IsUnderReplicated(Stored("a", "b"), States(Node("a"), Node("b", full: true)), 2));
    }

    [Fact]
    public void A_node_an_earlier_copy_is_still_to_be_deleted_from_is_no_target()
    {
        var id = ChunkId.Compute([7, 8, 9]);
        var copies = new List<ReplicaCopy>();

        // One copy on a; b still owes the deletion of an earlier copy (it was down when the collector asked): a copy put
        // on b would never count (ChunkLedger.MarkStored does not trust b), and the collector deletes what b holds.
        var record = Stored("a");
        record.DeletingLocations.Add("b");
        Assert.Equal(ReplicationPlanner.Verdict.Enough, ReplicationPlanner.Plan(id, record, States(Node("a"), Node("b")), 2, copies));
        Assert.Empty(copies);

        Assert.Equal(ReplicationPlanner.Verdict.Copies, ReplicationPlanner.Plan(id, record, States(Node("a"), Node("b"), Node("c")), 2, copies));
        Assert.Equal("c", Assert.Single(copies).Target.NodeId);
    }

    private static ChunkRecord Stored(params string[] locations)
    {
        var record = new ChunkRecord { State = ChunkState.Stored, Size = 1000, StoredSize = 900, Refcount = 1 };
        record.Locations.AddRange(locations);
        return record;
    }

    private static NodeStates States(params StorageNodeInfo[] nodes) => new(nodes, Now, Timeout);

    [Fact]
    public void A_chunk_whose_second_copy_is_on_a_dead_node_gets_one_copy_from_the_live_holder_to_the_rendezvous_choice()
    {
        var states = States(Node("a", live: false), Node("b"), Node("c"), Node("d"));
        var id = ChunkId.Compute([1, 2, 3]);
        var copies = new List<ReplicaCopy>();

        var verdict = ReplicationPlanner.Plan(id, Stored("a", "b"), states, 2, copies);

        Assert.Equal(ReplicationPlanner.Verdict.Copies, verdict);
        var copy = Assert.Single(copies);
        Assert.Equal("b", copy.Source.NodeId);
        Assert.Equal(Placement.Choose([Node("c"), Node("d")], id, 1)[0].NodeId, copy.Target.NodeId);
        Assert.Equal(900, copy.StoredBytes);
    }

    [Fact]
    public void A_chunk_with_enough_healthy_copies_needs_none()
    {
        var copies = new List<ReplicaCopy>();

        var verdict = ReplicationPlanner.Plan(ChunkId.Compute([7]), Stored("a", "b"), States(Node("a"), Node("b"), Node("c")), 2, copies);

        Assert.Equal(ReplicationPlanner.Verdict.Enough, verdict);
        Assert.Empty(copies);
    }

    [Fact]
    public void A_chunk_no_live_node_holds_has_no_source_and_gets_no_copy()
    {
        var copies = new List<ReplicaCopy>();
        var states = States(Node("a", live: false), Node("b", live: false), Node("c"));

        var verdict = ReplicationPlanner.Plan(ChunkId.Compute([9]), Stored("a", "b"), states, 2, copies);

        Assert.Equal(ReplicationPlanner.Verdict.NoSource, verdict);
        Assert.Empty(copies);
        Assert.True(ReplicationPlanner.IsUnderReplicated(Stored("a", "b"), states, 2));
    }

    [Fact]
    public void A_draining_holders_copy_does_not_count_but_it_serves_as_the_source_when_it_is_the_only_one()
    {
        var states = States(Node("a", draining: true), Node("b"), Node("c"));
        var copies = new List<ReplicaCopy>();

        var verdict = ReplicationPlanner.Plan(ChunkId.Compute([4, 2]), Stored("a"), states, 2, copies);

        Assert.Equal(ReplicationPlanner.Verdict.Copies, verdict);
        Assert.Equal(2, copies.Count);
        Assert.All(copies, c => Assert.Equal("a", c.Source.NodeId));
        Assert.Equal(["b", "c"], copies.Select(c => c.Target.NodeId).Order());
    }

    [Fact]
    public void A_healthy_holder_is_preferred_as_the_source_over_a_draining_one()
    {
        var states = States(Node("a", draining: true), Node("b"), Node("c"));
        var copies = new List<ReplicaCopy>();

        ReplicationPlanner.Plan(ChunkId.Compute([5]), Stored("a", "b"), states, 2, copies);

        var copy = Assert.Single(copies);
        Assert.Equal("b", copy.Source.NodeId);
        Assert.Equal("c", copy.Target.NodeId);
    }

    [Fact]
    public void With_fewer_healthy_nodes_than_the_factor_every_healthy_node_gets_a_copy_and_the_chunk_stays_under_replicated()
    {
        var states = States(Node("a", live: false), Node("b"), Node("c"));
        var copies = new List<ReplicaCopy>();
        var record = Stored("a", "b");

        ReplicationPlanner.Plan(ChunkId.Compute([6]), record, states, 3, copies);

        Assert.Equal("c", Assert.Single(copies).Target.NodeId);
        Assert.True(ReplicationPlanner.IsUnderReplicated(record, states, 3));
    }

    [Fact]
    public void A_chunk_being_deleted_is_never_copied()
    {
        var copies = new List<ReplicaCopy>();
        var record = Stored("b");
        record.State = ChunkState.Deleting;

        var verdict = ReplicationPlanner.Plan(ChunkId.Compute([8]), record, States(Node("a", live: false), Node("b"), Node("c")), 2, copies);

        Assert.Equal(ReplicationPlanner.Verdict.Enough, verdict);
        Assert.Empty(copies);
    }
}
