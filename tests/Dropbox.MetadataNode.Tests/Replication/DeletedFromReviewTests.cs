using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Domain.Replication;
using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Microsoft.Extensions.Logging.Abstractions;
using static Dropbox.MetadataNode.Tests.Replication.ReplanHarness;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>
/// The review's sequences (stop 52, review-gc52b) around <c>deleted_from</c>: a node listed there is trusted only by its
/// own answer, and a re-replicated copy was reported by the target's unverified "stored" event, which nothing asked
/// after, so such a copy never counted and a drain onto that node never ended (now the push's answer records it:
/// MetadataStore.RecordPushed); a lost chunk whose best-placed node owed a deletion could never be uploaded again (now
/// the collector gives up such deletions and the node becomes an unconfirmed location). Real RocksDB store, manual
/// clock, in-memory node gateways.
/// </summary>
public sealed class DeletedFromReviewTests
{
    [Fact]
    public async Task A_copy_re_replicated_to_a_node_whose_earlier_deletion_finished_is_counted()
    {
        // Bob's put lands on d (the chunk's best-placed node) and is never committed; past the grace the collector
        // deletes it (d in deleted_from). d is then down for a while; alice uploads the same content (placed on two of
        // a, b, c) and commits. d is back. One of alice's holders finds its copy corrupt: re-replication copies the
        // chunk to its best-placed healthy node not holding it, d, whose "stored" event reports the copy.
        using var h = Create(replicationFactor: 2, nodeTimeout: TimeSpan.FromSeconds(35), withD: true, eventWait: TimeSpan.Zero);
        var chunk = ChunkWhereBestIs(NodeD, [StoreHarness.NodeA, NodeB, NodeC, NodeD], firstSeed: 7000);
        await DeleteBobsCopyOnDAsync(h, chunk);
        var alice = await AliceCommitsWhileDIsDownAsync(h, chunk);
        var holders = ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations.ToList();
        Assert.Equal(2, holders.Count);
        Assert.DoesNotContain(NodeD, holders);

        h.Gateway.Remove(holders[0], chunk.Id);
        h.Store.ReportChunksCorrupt(holders[0], [chunk.Id]);
        var copier = new CopyingGateway(h);
        await new ReReplicator(h.Store, copier, h.Options, NullLogger.Instance).RunPassAsync(CancellationToken.None);
        // A later pass (a new instance: the 30 s "recently pushed" memory is in-process, as after a restart).
        await new ReReplicator(h.Store, copier, h.Options, NullLogger.Instance).RunPassAsync(CancellationToken.None);

        var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        var healthy = ReplicationPlanner.HealthyCopies(record, h.Store.NodeStates());
        Assert.True(healthy >= 2,
            $"pushes: {string.Join(" ", copier.Targets)}; locations {string.Join(",", record.Locations)}; unconfirmed {string.Join(",", record.UnconfirmedLocations)}; deleted_from {string.Join(",", record.DeletedFrom)}; d holds: {h.Gateway.Holds(NodeD, chunk.Id)}; counted healthy copies {healthy} of 2");
        Assert.NotNull(alice);
    }

    [Fact]
    public async Task A_drained_node_whose_chunks_were_copied_to_a_node_in_deleted_from_ends_drained()
    {
        // As above up to alice's commit (two copies, neither on d; d best-placed, in deleted_from). The operator drains
        // one of alice's holders; re-replication copies its chunk to d.
        using var h = Create(replicationFactor: 2, nodeTimeout: TimeSpan.FromSeconds(35), withD: true, eventWait: TimeSpan.Zero);
        var chunk = ChunkWhereBestIs(NodeD, [StoreHarness.NodeA, NodeB, NodeC, NodeD], firstSeed: 7000);
        await DeleteBobsCopyOnDAsync(h, chunk);
        await AliceCommitsWhileDIsDownAsync(h, chunk);
        var holder = ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations.First(n => n != StoreHarness.NodeA);

        h.Store.SetDraining(holder, draining: true);
        var copier = new CopyingGateway(h);
        for (var pass = 0; pass < 3; pass++)
        {
            await new ReReplicator(h.Store, copier, h.Options, NullLogger.Instance).RunPassAsync(CancellationToken.None);
        }

        var state = NodeReport.Build(h.Store).Of(h.Store.Nodes.Require(holder)).State;
        var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        Assert.True(state == "drained",
            $"{holder}: {state} after 3 passes; pushes: {string.Join(" ", copier.Targets)}; locations {string.Join(",", record.Locations)}; unconfirmed {string.Join(",", record.UnconfirmedLocations)}; d holds: {h.Gateway.Holds(NodeD, chunk.Id)}");
    }

    [Fact]
    public async Task A_lost_chunk_whose_best_placed_node_owes_a_deletion_can_be_uploaded_again()
    {
        // One copy per chunk. Bob's copy on b (the chunk's best-placed node), its deletion stuck (b down); alice's upload
        // of the same content commits with its one copy elsewhere, whose scrub then finds it corrupt: the chunk is lost.
        // b is back; the collector holds b's owed deletion (de5efdd). Alice uploads the content again to repair her file
        // (plan, puts, commit; the collector runs between her rounds, as time passes).
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var chunk = ChunkWhereBestIs(NodeB, [StoreHarness.NodeA, NodeB, NodeC], firstSeed: 7000);
        var (bob, _) = h.Store.AddUser("bob");
        h.Store.PlanUpload(bob, StoreHarness.Upload("b", 0, chunk));
        Report(h, bob, NodeB, chunk);
        h.Clock.Advance(h.Options.GcGracePeriod + TimeSpan.FromMinutes(1));
        h.Heartbeat();
        h.Store.Nodes.Heartbeat(NodeC, 0, 0);
        h.Gateway.Down[NodeB] = true;
        await h.Store.RunGcOnceAsync(CancellationToken.None);
        var (alice, _) = h.Store.AddUser("alice");
        var first = await RoundsAsync(h, alice, "f", chunk, gcBetween: false);
        Assert.EndsWith("committed", first);
        var holder = Assert.Single(ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations);
        h.Gateway.Remove(holder, chunk.Id);
        h.Store.ReportChunksCorrupt(holder, [chunk.Id]);
        h.Clock.Advance(TimeSpan.FromSeconds(61)); // past the window in which b's failed delete may still land
        h.Gateway.Down.TryRemove(NodeB, out _);
        h.Heartbeat();
        h.Store.Nodes.Heartbeat(NodeB, 0, 0);
        h.Store.Nodes.Heartbeat(NodeC, 0, 0);
        await h.Store.RunGcOnceAsync(CancellationToken.None);
        Assert.True(ChunkLedger.IsLost(ChunkLedger.Read(h.Store.Engine, chunk.Id)));

        var again = await RoundsAsync(h, alice, "g", chunk, gcBetween: true);

        var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        Assert.True(again.EndsWith("committed", StringComparison.Ordinal) && record.Locations.Count > 0,
            $"alice's re-upload: {again}; locations {string.Join(",", record.Locations)}; owed {string.Join(",", record.DeletingLocations)}; unconfirmed {string.Join(",", record.UnconfirmedLocations)}; b holds {h.Gateway.Holds(NodeB, chunk.Id)}");
    }

    [Fact]
    public async Task After_a_returned_nodes_owed_deletion_is_finished_a_copy_re_replicated_there_counts()
    {
        // Three nodes, two copies per chunk (the StuckDeletion sequence): bob's copy on b, its deletion stuck (b down);
        // alice's upload of the same content commits on a and c. b is back, the collector finishes b's deletion (b goes
        // into deleted_from). Then c goes silent past --node-dead-after: re-replication copies alice's chunk to the only
        // healthy node not holding it, b, whose "stored" event reports the copy.
        using var h = Create(replicationFactor: 2, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var chunk = StoreHarness.Chunk(7777);
        var (bob, _) = h.Store.AddUser("bob");
        h.Store.PlanUpload(bob, StoreHarness.Upload("b", 0, chunk));
        Report(h, bob, NodeB, chunk);
        h.Clock.Advance(h.Options.GcGracePeriod + TimeSpan.FromMinutes(1));
        h.Heartbeat();
        h.Store.Nodes.Heartbeat(NodeC, 0, 0);
        h.Gateway.Down[NodeB] = true;
        await h.Store.RunGcOnceAsync(CancellationToken.None);
        var (alice, _) = h.Store.AddUser("alice");
        Assert.EndsWith("committed", await RoundsAsync(h, alice, "f", chunk, gcBetween: false));
        h.Gateway.Down.TryRemove(NodeB, out _);
        h.Heartbeat();
        h.Store.Nodes.Heartbeat(NodeB, 0, 0);
        h.Store.Nodes.Heartbeat(NodeC, 0, 0);
        await h.Store.RunGcOnceAsync(CancellationToken.None);
        Assert.Equal($"owed: ; deleted_from {NodeB}; locations node-a,node-c", $"owed: {string.Join(",", ChunkLedger.Read(h.Store.Engine, chunk.Id)!.DeletingLocations)}; deleted_from {string.Join(",", ChunkLedger.Read(h.Store.Engine, chunk.Id)!.DeletedFrom)}; locations {string.Join(",", ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations.Order(StringComparer.Ordinal))}");

        h.Clock.Advance(TimeSpan.FromSeconds(40));
        h.Heartbeat();
        h.Store.Nodes.Heartbeat(NodeB, 0, 0);
        var copier = new CopyingGateway(h);
        await new ReReplicator(h.Store, copier, h.Options, NullLogger.Instance).RunPassAsync(CancellationToken.None);
        var later = await new ReReplicator(h.Store, copier, h.Options, NullLogger.Instance).RunPassAsync(CancellationToken.None);

        var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        var healthy = ReplicationPlanner.HealthyCopies(record, h.Store.NodeStates());
        Assert.True(healthy >= 2,
            $"pushes: {string.Join(" ", copier.Targets)}; locations {string.Join(",", record.Locations)}; unconfirmed {string.Join(",", record.UnconfirmedLocations)}; b holds: {h.Gateway.Holds(NodeB, chunk.Id)}; counted healthy copies {healthy} of 2; later pass still under-replicated: {later.UnderReplicated}");
    }

    /// <summary>Plan, every put lands, commit; up to four rounds, the collector running between them when asked.</summary>
    private static async Task<string> RoundsAsync(StoreHarness h, UserInfo user, string path, ChunkRef chunk, bool gcBetween)
    {
        var rounds = new List<string>();
        for (var round = 0; round < 4; round++)
        {
            var plan = h.Store.PlanUpload(user, StoreHarness.Upload(path, 0, chunk));
            PutAll(h, user, plan, [chunk]);
            var commit = await Record.ExceptionAsync(() => h.Store.CommitAsync(user, StoreHarness.Upload(path, 0, chunk), CancellationToken.None));
            rounds.Add($"puts {string.Join(",", Puts(plan, [chunk]))}, {(commit is null ? "committed" : commit is Dropbox.Shared.Errors.DropboxException e ? e.Kind.ToString() : commit.GetType().Name)}");
            if (commit is null)
            {
                break;
            }

            if (gcBetween)
            {
                await h.Store.RunGcOnceAsync(CancellationToken.None);
            }
        }

        return string.Join("; ", rounds);
    }

    /// <summary>Bob's put on d, never committed; past the grace every node up, the collector deletes it.</summary>
    private static async Task DeleteBobsCopyOnDAsync(StoreHarness h, ChunkRef chunk)
    {
        var (bob, _) = h.Store.AddUser("bob");
        h.Store.PlanUpload(bob, StoreHarness.Upload("b", 0, chunk));
        Report(h, bob, NodeD, chunk);
        h.Clock.Advance(h.Options.GcGracePeriod + TimeSpan.FromMinutes(1));
        HeartbeatAll(h);
        await h.Store.RunGcOnceAsync(CancellationToken.None);
        var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        Assert.Equal($"Deleted; deleted_from {NodeD}", $"{record.State}; deleted_from {string.Join(",", record.DeletedFrom)}");
        Assert.False(h.Gateway.Holds(NodeD, chunk.Id));
    }

    /// <summary>d silent past --node-dead-after: alice's upload of the content goes to a, b, c; then d is back.</summary>
    private static async Task<UserInfo?> AliceCommitsWhileDIsDownAsync(StoreHarness h, ChunkRef chunk)
    {
        h.Clock.Advance(TimeSpan.FromSeconds(40));
        h.Heartbeat();
        h.Store.Nodes.Heartbeat(NodeB, 0, 0);
        h.Store.Nodes.Heartbeat(NodeC, 0, 0);
        var (alice, _) = h.Store.AddUser("alice");
        UserInfo? committed = null;
        for (var round = 0; round < 4 && committed is null; round++)
        {
            var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk));
            PutAll(h, alice, plan, [chunk]);
            var commit = await Record.ExceptionAsync(() => h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, chunk), CancellationToken.None));
            committed = commit is null ? alice : null;
        }

        Assert.NotNull(committed);
        HeartbeatAll(h);
        return committed;
    }

    /// <summary>
    /// What the storage nodes do on a push order: the target stores the bytes, and its cluster agent reports them with a
    /// "stored" event naming no namespace (a replica is nobody's put).
    /// </summary>
    private sealed class CopyingGateway(StoreHarness h) : IReplicationGateway
    {
        public List<string> Targets { get; } = [];

        public Task<PushOutcome> PushAsync(StorageNodeInfo source, StorageNodeInfo target, IReadOnlyList<ChunkId> ids, CancellationToken cancellationToken)
        {
            lock (Targets)
            {
                Targets.Add($"{source.NodeId}->{target.NodeId}");
            }

            var readable = ids.Where(id => h.Gateway.Holds(source.NodeId, id)).ToList();
            var report = new ReportChunksStoredRequest { NodeId = target.NodeId };
            foreach (var id in readable)
            {
                h.Gateway.Put(target.NodeId, id);
                report.Chunks.Add(new StoredChunk { ChunkId = id.ToByteString(), Size = 1000, StoredSize = 1000 });
            }

            h.Store.ReportChunksStored(report);
            return Task.FromResult(new PushOutcome(readable, ids.Except(readable).ToList()));
        }
    }
}
