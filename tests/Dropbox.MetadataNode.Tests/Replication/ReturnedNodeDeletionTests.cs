using Dropbox.Hosting;
using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Errors;
using Microsoft.Extensions.Logging.Abstractions;
using static Dropbox.MetadataNode.Tests.Replication.ReplanHarness;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>
/// A node that owes the collector a deletion and comes back: a put of the same content on it is not trusted until the
/// deletion is done (ChunkLedger.MarkStored), which waited for the next collector pass, up to --gc-interval-seconds
/// (300 s) of an upload refused on a node that was up (review-gc52's probe). The collector service now finishes a node's
/// owed deletions as soon as it is heard from again. Real RocksDB store, manual clock (the node's liveness), the real
/// collector service with an interval of an hour (no tick comes during a test), the nodes' gateway in memory.
/// </summary>
public sealed class ReturnedNodeDeletionTests
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task An_upload_put_on_a_node_back_from_the_dead_that_owed_its_deletion_commits_before_the_next_pass()
    {
        // Arrange: one copy per chunk; the content's best node is b. Bob put it on b and never committed; past the
        // grace the collector began deleting it while b was down (dead: no heartbeat since). The collector service runs.
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var chunk = ChunkWhereBestIs(NodeB, [StoreHarness.NodeA, NodeB, NodeC], firstSeed: 5000);
        await StickDeletionAsync(h, chunk, [NodeB]);
        var service = await StartCollectorAsync(h);
        try
        {
            // Act: b is back (it answers, and heartbeats); alice uploads the same content (plan, puts, commit; her
            // client's four rounds), once b's owed deletion is done or the wait for it gave up.
            h.Gateway.Down.TryRemove(NodeB, out _);
            HeartbeatAll(h);
            await UntilAsync(() => ChunkLedger.Read(h.Store.Engine, chunk.Id)!.DeletingLocations.Count == 0);
            var rounds = await AlicesRoundsAsync(h, chunk);

            // Assert: her put on b commits at once, as if nobody had stored the content before.
            var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
            Assert.Equal("puts 0:node-b, committed; locations node-b; owed ", $"{rounds}; locations {string.Join(",", record.Locations)}; owed {string.Join(",", record.DeletingLocations)}");
            Assert.True(h.Gateway.Holds(NodeB, chunk.Id), "b should hold alice's copy");
        }
        finally
        {
            await service.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task A_node_that_registers_again_has_its_owed_deletion_finished_though_it_never_read_dead()
    {
        // Arrange: bob's copy on b; past the grace b heartbeats on but its delete fails (it was restarting); the
        // collector service runs.
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var chunk = ChunkWhereBestIs(NodeB, [StoreHarness.NodeA, NodeB, NodeC], firstSeed: 5000);
        var (bob, _) = h.Store.AddUser("bob");
        h.Store.PlanUpload(bob, StoreHarness.Upload("b", 0, chunk));
        Report(h, bob, NodeB, chunk);
        h.Clock.Advance(h.Options.GcGracePeriod + TimeSpan.FromMinutes(1));
        HeartbeatAll(h);
        h.Gateway.Down[NodeB] = true;
        await h.Store.RunGcOnceAsync(CancellationToken.None);
        Assert.Equal([NodeB], ChunkLedger.Read(h.Store.Engine, chunk.Id)!.DeletingLocations);
        var service = await StartCollectorAsync(h);
        try
        {
            // Act: b, restarted, registers again (it never missed a heartbeat for long).
            h.Gateway.Down.TryRemove(NodeB, out _);
            h.Store.Nodes.Register(new NodeRegistration(NodeB, "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0));
            await UntilAsync(() => ChunkLedger.Read(h.Store.Engine, chunk.Id)!.DeletingLocations.Count == 0);

            // Assert: its deletion is done; the chunk's deletion finished (nobody references it).
            var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
            Assert.Equal("Deleted; owed ; b holds False", $"{record.State}; owed {string.Join(",", record.DeletingLocations)}; b holds {h.Gateway.Holds(NodeB, chunk.Id)}");
        }
        finally
        {
            await service.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task A_run_finishing_a_returned_nodes_deletions_is_counted_as_such_not_as_a_pass()
    {
        // Arrange: bob's copy on b, its deletion stuck (b down); the collector service runs, with its metrics.
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var chunk = ChunkWhereBestIs(NodeB, [StoreHarness.NodeA, NodeB, NodeC], firstSeed: 5000);
        await StickDeletionAsync(h, chunk, [NodeB]);
        var metrics = new MetadataMetrics(new NodeMetrics(), h.Store);
        var service = await StartCollectorAsync(h, metrics);
        try
        {
            // Act: b is back.
            h.Gateway.Down.TryRemove(NodeB, out _);
            HeartbeatAll(h);
            await UntilAsync(() => metrics.GcOwedRuns.Value + metrics.GcRuns.Value >= 1);

            // Assert
            Assert.Equal("passes 0, owed runs 1, chunks deleted 1",
                $"passes {metrics.GcRuns.Value}, owed runs {metrics.GcOwedRuns.Value}, chunks deleted {metrics.GcChunksDeleted.Value}");
        }
        finally
        {
            await service.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task A_live_nodes_heartbeat_does_not_wake_the_collector()
    {
        // Arrange: every node heartbeats (none is back from anything).
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35));
        HeartbeatAll(h);
        await h.Store.FinishOwedDeletionsAsync(CancellationToken.None);
        var returns = h.Store.NodeReturns;

        // Act: heartbeats within the node timeout.
        h.Clock.Advance(TimeSpan.FromSeconds(10));
        HeartbeatAll(h);
        var quiet = returns.IsCompleted;

        // ... and one after b read dead.
        h.Clock.Advance(TimeSpan.FromSeconds(40));
        h.Store.Nodes.Heartbeat(NodeB, 0, 0);

        // Assert
        Assert.Equal("after live heartbeats: False; after b back: True", $"after live heartbeats: {quiet}; after b back: {returns.IsCompleted}");
    }

    /// <summary>The collector service as the host runs it, every hour: only a node coming back makes it run in a test.</summary>
    private static async Task<GarbageCollectorService> StartCollectorAsync(StoreHarness h, MetadataMetrics? metrics = null)
    {
        metrics ??= new MetadataMetrics(new NodeMetrics(), h.Store);
        var service = new GarbageCollectorService(h.Store, h.Options with { GcInterval = TimeSpan.FromHours(1) }, metrics, NullLogger<GarbageCollectorService>.Instance);
        await service.StartAsync(CancellationToken.None);
        return service;
    }

    /// <summary>Waits until <paramref name="done"/> holds, at most <see cref="Settle"/> (then the assertions say what is wrong).</summary>
    private static async Task UntilAsync(Func<bool> done)
    {
        var until = DateTime.UtcNow + Settle;
        while (!done() && DateTime.UtcNow < until)
        {
            await Task.Delay(10);
        }
    }

    /// <summary>Alice's rounds (plan, every put lands, commit) until her commit goes through, at most four.</summary>
    private static async Task<string> AlicesRoundsAsync(StoreHarness h, Dropbox.Shared.Chunks.ChunkRef chunk)
    {
        var (alice, _) = h.Store.AddUser("alice");
        var rounds = new List<string>();
        for (var round = 0; round < 4; round++)
        {
            var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk));
            PutAll(h, alice, plan, [chunk]);
            var commit = await Record.ExceptionAsync(() => h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, chunk), CancellationToken.None));
            rounds.Add($"puts {string.Join(",", Puts(plan, [chunk]))}, {(commit is null ? "committed" : commit is DropboxException e ? e.Kind.ToString() : commit.GetType().Name)}");
            if (commit is null)
            {
                break;
            }
        }

        return string.Join("; ", rounds);
    }
}
