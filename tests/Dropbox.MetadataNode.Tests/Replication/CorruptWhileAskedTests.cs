using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Domain.Replication;
using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Microsoft.Extensions.Logging.Abstractions;
using static Dropbox.MetadataNode.Tests.Replication.ReplanHarness;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>
/// A node's "I hold it" answer (to a commit's check, or a re-replication push) followed, before the answer is recorded,
/// by that node quarantining the copy and reporting it corrupt, where the node was not a listed holder (its "stored"
/// event not trusted: the chunk being deleted, a DELETED tombstone, or a node whose deletion of it finished). The
/// report removed no holder, so the corrupt-report count did not move and the answer listed the node: a location
/// without the bytes (review-gc52 probe 711fd82). Every corrupt report is now recorded per node and chunk, and a
/// node's answer about a chunk it reported since it was asked is not recorded (StoreTransactions.ReportedCorruptSince).
/// Real RocksDB store, manual clock, in-memory gateway.
/// </summary>
public sealed class CorruptWhileAskedTests
{
    [Fact]
    public async Task A_copy_reported_corrupt_while_the_commit_asked_is_not_counted_while_deleting()
    {
        // One copy per chunk. Bob's copy on b, its deletion stuck (b down): the chunk is DELETING, so alice's put's event
        // is not trusted and her commit asks the nodes. Her node says "held"; before her commit takes the lock, that
        // node's scrub quarantines the copy and reports it corrupt.
        var outcome = await CorruptWhileAskedAsync(downB: true);
        Assert.Equal("NotFound; listed without the bytes: ", outcome);
    }

    [Fact]
    public async Task The_same_corrupt_report_after_a_deletion_every_node_finished_is_not_counted()
    {
        // The same with the chunk DELETED (a tombstone; no node down).
        var outcome = await CorruptWhileAskedAsync(downB: false);
        Assert.Equal("NotFound; listed without the bytes: ", outcome);
    }

    [Fact]
    public async Task A_push_target_that_reports_the_pushed_copy_corrupt_before_the_answer_is_not_listed()
    {
        // Bob's put on d (the chunk's best-placed node), never committed, deleted by the collector (d in deleted_from,
        // so d's own "stored" events are not trusted). Alice's upload of the content commits on two other nodes while d
        // is silent; d is back. One of alice's holders finds its copy corrupt: re-replication pushes the chunk to d,
        // which stores it and reports it (not trusted), then quarantines it and reports it corrupt before the push's
        // answer returns.
        using var h = Create(replicationFactor: 2, nodeTimeout: TimeSpan.FromSeconds(35), withD: true, eventWait: TimeSpan.Zero);
        var chunk = ChunkWhereBestIs(NodeD, [StoreHarness.NodeA, NodeB, NodeC, NodeD], firstSeed: 7000);
        await DeleteBobsCopyOnDAsync(h, chunk);
        await AliceCommitsWhileDIsDownAsync(h, chunk);
        var holders = ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations.ToList();
        h.Gateway.Remove(holders[0], chunk.Id);
        h.Store.ReportChunksCorrupt(holders[0], [chunk.Id]);
        var gateway = new QuarantiningGateway(h);

        await new ReReplicator(h.Store, gateway, h.Options, NullLogger.Instance).RunPassAsync(CancellationToken.None);

        var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        var phantom = record.Locations.Where(n => !h.Gateway.Holds(n, chunk.Id));
        Assert.Equal($"pushed to {NodeD}; listed without the bytes: ", $"pushed to {string.Join(",", gateway.Targets)}; listed without the bytes: {string.Join(",", phantom)}");
    }

    private static async Task<string> CorruptWhileAskedAsync(bool downB)
    {
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var chunk = StoreHarness.Chunk(31337);
        await StickDeletionAsync(h, chunk, [NodeB], downB);
        var state = ChunkLedger.Read(h.Store.Engine, chunk.Id)!.State;
        Assert.Equal(downB ? ChunkState.Deleting : ChunkState.Deleted, state);
        if (!downB)
        {
            HeartbeatAll(h);
        }

        var (alice, _) = h.Store.AddUser("alice");
        var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk));
        var holder = Assert.Single(plan.Missing).Node.NodeId;
        PutAll(h, alice, plan, [chunk]);
        var asked = h.Store.Nodes.LiveNodes().Count(n => !n.Draining);
        var calls = 0;
        h.Gateway.AfterHas = () =>
        {
            if (Interlocked.Increment(ref calls) == asked)
            {
                // Every node has answered: the holder said "held". Now its scrub quarantines the copy and reports it.
                h.Gateway.Remove(holder, chunk.Id);
                h.Store.ReportChunksCorrupt(holder, [chunk.Id]);
            }

            return Task.CompletedTask;
        };

        var commit = await Record.ExceptionAsync(() => h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, chunk), CancellationToken.None));
        Assert.Equal(asked, calls);
        var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        var phantom = record.Locations.Where(n => !h.Gateway.Holds(n, chunk.Id));
        return $"{(commit is null ? "committed" : commit is DropboxException e ? e.Kind.ToString() : commit.GetType().Name)}; listed without the bytes: {string.Join(",", phantom)}";
    }

    /// <summary>Bob's put on d, never committed; past the grace, every node up, the collector deletes it.</summary>
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
    }

    /// <summary>d silent past the node timeout: alice's upload of the content commits on a, b, c; then d is back.</summary>
    private static async Task AliceCommitsWhileDIsDownAsync(StoreHarness h, ChunkRef chunk)
    {
        h.Clock.Advance(TimeSpan.FromSeconds(40));
        h.Heartbeat();
        h.Store.Nodes.Heartbeat(NodeB, 0, 0);
        h.Store.Nodes.Heartbeat(NodeC, 0, 0);
        var (alice, _) = h.Store.AddUser("alice");
        Exception? last = null;
        for (var round = 0; round < 4; round++)
        {
            var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk));
            PutAll(h, alice, plan, [chunk]);
            last = await Record.ExceptionAsync(() => h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, chunk), CancellationToken.None));
            if (last is null)
            {
                break;
            }
        }

        Assert.Null(last);
        HeartbeatAll(h);
    }

    /// <summary>
    /// A push as the storage nodes make it (the target stores the bytes and its "stored" event lands), after which the
    /// target finds the copy corrupt, quarantines it and reports it, before the push's answer returns.
    /// </summary>
    private sealed class QuarantiningGateway(StoreHarness h) : IReplicationGateway
    {
        public List<string> Targets { get; } = [];

        public Task<PushOutcome> PushAsync(StorageNodeInfo source, StorageNodeInfo target, IReadOnlyList<ChunkId> ids, CancellationToken cancellationToken)
        {
            lock (Targets)
            {
                Targets.Add(target.NodeId);
            }

            var readable = ids.Where(id => h.Gateway.Holds(source.NodeId, id)).ToList();
            var report = new ReportChunksStoredRequest { NodeId = target.NodeId };
            foreach (var id in readable)
            {
                h.Gateway.Put(target.NodeId, id);
                report.Chunks.Add(new StoredChunk { ChunkId = id.ToByteString(), Size = 1000, StoredSize = 1000 });
            }

            h.Store.ReportChunksStored(report);
            foreach (var id in readable)
            {
                h.Gateway.Remove(target.NodeId, id);
            }

            h.Store.ReportChunksCorrupt(target.NodeId, readable);
            return Task.FromResult(new PushOutcome(readable, ids.Except(readable).ToList()));
        }
    }
}
