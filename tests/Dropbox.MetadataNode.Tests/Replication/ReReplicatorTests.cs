using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Domain.Replication;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Microsoft.Extensions.Logging.Abstractions;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.MetadataNode.Tests.Replication;

public sealed class ReReplicatorTests
{
    private const string NodeB = "node-b";
    private const string NodeC = "node-c";

    [Fact]
    public async Task A_source_that_answers_unreadable_is_not_asked_again_and_the_next_pass_copies_from_the_other_holder()
    {
        // Arrange: R=3, a chunk on a and b, c holds nothing; whichever holder the planner picks first has lost it.
        using var h = new StoreHarness(o => o with { ReplicationFactor = 3, NodeTimeout = TimeSpan.FromDays(1) });
        var chunk = await CommittedChunkAsync(h, StoreHarness.NodeA, NodeB);
        var gateway = new ScriptedReplicationGateway();
        var replicator = new ReReplicator(h.Store, gateway, h.Options, NullLogger.Instance);

        // Act: the first pass asks some holder, which answers "unreadable".
        gateway.AnswerUnreadableFromFirstSource = true;
        var first = await replicator.RunPassAsync(CancellationToken.None);
        var bad = Assert.Single(gateway.Calls);
        Assert.Equal(1, first.Failed);
        Assert.Equal(NodeC, bad.Target);

        // Act: the next pass.
        var second = await replicator.RunPassAsync(CancellationToken.None);

        // Assert: it copies from the other holder (not the same bad one again), and that copy succeeds.
        Assert.Equal(2, gateway.Calls.Count);
        var retry = gateway.Calls[1];
        Assert.NotEqual(bad.Source, retry.Source);
        Assert.Contains(retry.Source, new[] { StoreHarness.NodeA, NodeB });
        Assert.Equal(NodeC, retry.Target);
        Assert.Equal([chunk], retry.Ids);
        Assert.Equal(1, second.Copied);
    }

    [Fact]
    public async Task A_chunk_whose_only_holder_answers_unreadable_is_not_ordered_again_every_pass()
    {
        // Arrange: R=2, the chunk only on a, which lost it.
        using var h = new StoreHarness(o => o with { ReplicationFactor = 2, NodeTimeout = TimeSpan.FromDays(1) });
        await CommittedChunkAsync(h, StoreHarness.NodeA);
        h.Store.Nodes.Register(new NodeRegistration(NodeB, "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0));
        var gateway = new ScriptedReplicationGateway { AnswerUnreadableFromFirstSource = true };
        var replicator = new ReReplicator(h.Store, gateway, h.Options, NullLogger.Instance);

        await replicator.RunPassAsync(CancellationToken.None);
        var second = await replicator.RunPassAsync(CancellationToken.None);

        // Assert: no second push to the holder known to be unable to read it; the chunk counts as having no source.
        Assert.Single(gateway.Calls);
        Assert.Equal(0, second.Planned);
        Assert.Equal(1, second.NoSource);
    }

    [Fact]
    public async Task An_unreferenced_chunk_awaiting_gc_is_not_re_replicated()
    {
        // Arrange: R=2, a chunk stored on a but never committed (refcount 0), and a second healthy node.
        using var h = new StoreHarness(o => o with { ReplicationFactor = 2, NodeTimeout = TimeSpan.FromDays(1) });
        var (alice, _) = h.Store.AddUser("alice");
        h.Stored(alice, StoreHarness.Chunk(42));
        h.Store.Nodes.Register(new NodeRegistration(NodeB, "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0));
        var gateway = new ScriptedReplicationGateway();
        var replicator = new ReReplicator(h.Store, gateway, h.Options, NullLogger.Instance);

        var pass = await replicator.RunPassAsync(CancellationToken.None);

        Assert.Empty(gateway.Calls);
        Assert.Equal(0, pass.UnderReplicated);
    }

    [Fact]
    public async Task With_two_replicas_and_the_other_node_full_an_upload_lands_once_says_so_and_gets_its_second_copy_once_the_node_has_space()
    {
        // Arrange: R=2, node b registered and full.
        var log = new ListLogger();
        using var h = new StoreHarness(o => o with { ReplicationFactor = 2, NodeTimeout = TimeSpan.FromDays(1) }, log);
        h.Store.Nodes.Register(new NodeRegistration(NodeB, "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0));
        h.Store.Nodes.Heartbeat(NodeB, 0, 0, full: true);
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(9);
        var gateway = new ScriptedReplicationGateway();
        var replicator = new ReReplicator(h.Store, gateway, h.Options, NullLogger.Instance);

        // Act: upload and commit while b is full, then a re-replication pass.
        var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk));
        await h.PutFileAsync(alice, "f", 0, chunk);
        var whileFull = await replicator.RunPassAsync(CancellationToken.None);

        // Assert: one put (to a), a warning saying so, the chunk counted under-replicated, and no copy ordered to the
        // full node (it would refuse it).
        Assert.Equal(StoreHarness.NodeA, Assert.Single(plan.Missing).Node.NodeId);
        Assert.Contains(log.Entries, e => e.EventId == 4005 && e.Message.Contains("replication factor is 2", StringComparison.Ordinal));
        Assert.True(h.Store.TryCountUnderReplicated(out var under));
        Assert.Equal(1, under);
        Assert.Equal(1, whileFull.UnderReplicated);
        Assert.Empty(gateway.Calls);

        // Act: b has space again; the next pass.
        h.Store.Nodes.Heartbeat(NodeB, 0, 0, full: false);
        var withSpace = await replicator.RunPassAsync(CancellationToken.None);

        // Assert: the second copy is ordered from a to b.
        Assert.Equal(1, withSpace.Copied);
        var copy = Assert.Single(gateway.Calls);
        Assert.Equal((StoreHarness.NodeA, NodeB), (copy.Source, copy.Target));
        Assert.Equal([chunk.Id], copy.Ids);
    }

    [Fact]
    public void Passes_that_copy_nothing_back_off_doubling_up_to_a_minute()
    {
        var interval = TimeSpan.FromSeconds(2);

        Assert.Equal(TimeSpan.Zero, Services.ReReplicationService.RetryDelay(interval, 0));
        Assert.Equal(TimeSpan.FromSeconds(2), Services.ReReplicationService.RetryDelay(interval, 1));
        Assert.Equal(TimeSpan.FromSeconds(8), Services.ReReplicationService.RetryDelay(interval, 3));
        Assert.Equal(TimeSpan.FromMinutes(1), Services.ReReplicationService.RetryDelay(interval, 50));
    }

    /// <summary>A committed chunk (refcount 1) recorded on <paramref name="holders"/>; registers nodes b and c.</summary>
    private static async Task<ChunkId> CommittedChunkAsync(StoreHarness h, params string[] holders)
    {
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(7);
        await h.PutFileAsync(alice, "f", 0, chunk);
        h.Store.Nodes.Register(new NodeRegistration(NodeB, "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0));
        h.Store.Nodes.Register(new NodeRegistration(NodeC, "http://127.0.0.1:3", "http://127.0.0.1:3", 0, 0));
        foreach (var holder in holders.Where(n => n != StoreHarness.NodeA))
        {
            var report = new ReportChunksStoredRequest { NodeId = holder };
            report.Chunks.Add(new StoredChunk { ChunkId = chunk.Id.ToByteString(), Size = (uint)chunk.Size, Encoding = Proto.ChunkEncoding.Raw, StoredSize = (uint)chunk.StoredSize });
            h.Store.ReportChunksStored(report);
        }

        return chunk.Id;
    }

    /// <summary>Records push orders; the first source asked answers "unreadable" when told to, the rest succeed.</summary>
    private sealed class ScriptedReplicationGateway : IReplicationGateway
    {
        public List<(string Source, string Target, List<ChunkId> Ids)> Calls { get; } = [];

        public bool AnswerUnreadableFromFirstSource { get; set; }

        public string? UnreadableOn { get; set; }

        public Task<PushOutcome> PushAsync(StorageNodeInfo source, StorageNodeInfo target, IReadOnlyList<ChunkId> ids, CancellationToken cancellationToken)
        {
            lock (Calls)
            {
                Calls.Add((source.NodeId, target.NodeId, ids.ToList()));
                if (AnswerUnreadableFromFirstSource && UnreadableOn is null)
                {
                    UnreadableOn = source.NodeId;
                }

                return Task.FromResult(source.NodeId == UnreadableOn
                    ? new PushOutcome([], ids.ToList())
                    : new PushOutcome(ids.ToList(), []));
            }
        }
    }
}
