using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Domain.Replication;
using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Microsoft.Extensions.Logging.Abstractions;
using static Dropbox.MetadataNode.Tests.Replication.ReplanHarness;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>
/// The review's sequences (stop 52, review-gc52c) of a push's answer recorded as the target's verified copy
/// (MetadataStore.RecordPushed): a collector deletion or a corrupt report that lands while the push is out must keep the
/// answer from counting, as for a commit's node answers (UploadCommit.RecordAnswers). Real RocksDB store, manual clock,
/// in-memory node gateways; the race is played inside the push, before its answer returns.
/// </summary>
public sealed class PushRaceReviewTests
{
    [Fact]
    public async Task A_push_answer_that_predates_a_finished_deletion_of_the_chunk_on_the_target_does_not_count_it()
    {
        // Alice's chunk on two nodes; one finds its copy corrupt; re-replication pushes the chunk to a target, which
        // stores it and reports it (its event lands). Before the push's answer reaches the metadata node (a 128-chunk,
        // 32 MB batch answers at its end): alice's last version is pruned, past the grace the collector deletes the
        // chunk everywhere, the target included (DELETED, deleted_from). Carol then uploads the same content while the
        // target is silent; her commit's check stores the chunk again on other nodes. The push's answer arrives.
        using var h = Create(replicationFactor: 2, nodeTimeout: TimeSpan.FromSeconds(35), withD: true, eventWait: TimeSpan.Zero);
        var chunk = StoreHarness.Chunk(5151);
        var (alice, _) = h.Store.AddUser("alice");
        await CommitAsync(h, alice, "f", chunk);
        var holders = ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations.ToList();
        h.Gateway.Remove(holders[0], chunk.Id);
        h.Store.ReportChunksCorrupt(holders[0], [chunk.Id]);
        var target = "";
        var gateway = new RacingGateway(h, async (_, to) =>
        {
            target = to;
            Prune(h, chunk.Id);
            h.Clock.Advance(h.Options.GcGracePeriod + TimeSpan.FromMinutes(1));
            Alive(h, except: null);
            await h.Store.RunGcOnceAsync(CancellationToken.None);
            var deleted = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
            Assert.Equal($"Deleted; target holds False", $"{deleted.State}; target holds {h.Gateway.Holds(to, chunk.Id)}");
            h.Clock.Advance(TimeSpan.FromSeconds(40));
            Alive(h, except: to);
            var (carol, _) = h.Store.AddUser("carol");
            await CommitAsync(h, carol, "g", chunk);
            Alive(h, except: null);
        });

        await new ReReplicator(h.Store, gateway, h.Options, NullLogger.Instance).RunPassAsync(CancellationToken.None);

        var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        var counted = record.Locations.Select(n => $"{n}:{(h.Gateway.Holds(n, chunk.Id) ? "holds" : "EMPTY")}").Order(StringComparer.Ordinal);
        Assert.True(record.Locations.All(n => h.Gateway.Holds(n, chunk.Id)),
            $"push target {target}; {record.State}; counted locations {string.Join(",", counted)}; deleted_from {string.Join(",", record.DeletedFrom)}");
    }

    [Fact]
    public async Task A_push_answer_that_predates_the_targets_corrupt_report_does_not_list_it_again()
    {
        // Alice's chunk on two nodes; one finds its copy corrupt; re-replication pushes the chunk to a target, which
        // stores it and reports it. Before the push's answer reaches the metadata node, the target finds that copy
        // corrupt (a read or its scrub), quarantines it and reports it (the report removes it as a holder).
        using var h = Create(replicationFactor: 2, nodeTimeout: TimeSpan.FromSeconds(35), withD: true, eventWait: TimeSpan.Zero);
        var chunk = StoreHarness.Chunk(5252);
        var (alice, _) = h.Store.AddUser("alice");
        await CommitAsync(h, alice, "f", chunk);
        var holders = ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations.ToList();
        h.Gateway.Remove(holders[0], chunk.Id);
        h.Store.ReportChunksCorrupt(holders[0], [chunk.Id]);
        var target = "";
        var gateway = new RacingGateway(h, (_, to) =>
        {
            target = to;
            Assert.Contains(to, ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations);
            h.Gateway.Remove(to, chunk.Id);
            h.Store.ReportChunksCorrupt(to, [chunk.Id]);
            return Task.CompletedTask;
        });

        await new ReReplicator(h.Store, gateway, h.Options, NullLogger.Instance).RunPassAsync(CancellationToken.None);

        var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        var counted = record.Locations.Select(n => $"{n}:{(h.Gateway.Holds(n, chunk.Id) ? "holds" : "EMPTY")}").Order(StringComparer.Ordinal);
        Assert.True(record.Locations.All(n => h.Gateway.Holds(n, chunk.Id)),
            $"push target {target}; counted locations {string.Join(",", counted)}; healthy {ReplicationPlanner.HealthyCopies(record, h.Store.NodeStates())}");
    }

    /// <summary>Plan, every put lands, commit; up to four rounds (a round refused as missing is planned again).</summary>
    private static async Task CommitAsync(StoreHarness h, UserInfo user, string path, ChunkRef chunk)
    {
        Exception? last = null;
        for (var round = 0; round < 4; round++)
        {
            var plan = h.Store.PlanUpload(user, StoreHarness.Upload(path, 0, chunk));
            PutAll(h, user, plan, [chunk]);
            last = await Record.ExceptionAsync(() => h.Store.CommitAsync(user, StoreHarness.Upload(path, 0, chunk), CancellationToken.None));
            if (last is null)
            {
                return;
            }
        }

        Assert.Fail($"{user.Namespace} could not commit {path}: {last}");
    }

    /// <summary>The chunk's last referencing version pruned (as StuckDeletionTests does it).</summary>
    private static void Prune(StoreHarness h, ChunkId id)
    {
        using var batch = new RecordBatch(h.Store.Engine);
        var record = batch.GetChunk(id)!;
        record.Refcount = 0;
        record.ZeroSinceUnixMs = h.Clock.GetUtcNow().ToUnixTimeMilliseconds();
        batch.PutChunk(id, record);
        batch.AddGcCandidate(id);
        batch.Commit();
    }

    private static void Alive(StoreHarness h, string? except)
    {
        foreach (var node in new[] { StoreHarness.NodeA, NodeB, NodeC, NodeD }.Where(n => n != except))
        {
            if (node == StoreHarness.NodeA)
            {
                h.Heartbeat();
            }
            else
            {
                h.Store.Nodes.Heartbeat(node, 0, 0);
            }
        }
    }

    /// <summary>
    /// A push as the storage nodes make it (the target stores the bytes, its "stored" event lands), then
    /// <paramref name="meanwhile"/> before the answer returns.
    /// </summary>
    private sealed class RacingGateway(StoreHarness h, Func<string, string, Task> meanwhile) : IReplicationGateway
    {
        public async Task<PushOutcome> PushAsync(StorageNodeInfo source, StorageNodeInfo target, IReadOnlyList<ChunkId> ids, CancellationToken cancellationToken)
        {
            var readable = ids.Where(id => h.Gateway.Holds(source.NodeId, id)).ToList();
            var report = new ReportChunksStoredRequest { NodeId = target.NodeId };
            foreach (var id in readable)
            {
                h.Gateway.Put(target.NodeId, id);
                report.Chunks.Add(new StoredChunk { ChunkId = id.ToByteString(), Size = 1000, StoredSize = 1000 });
            }

            h.Store.ReportChunksStored(report);
            await meanwhile(source.NodeId, target.NodeId);
            return new PushOutcome(readable, ids.Except(readable).ToList());
        }
    }
}
