using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using static Dropbox.MetadataNode.Tests.Replication.ReplanHarness;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>
/// Review gw53's sequences (branch review-gw53, 18af8c2) around owed deletions finished when a node is back, the
/// corrupt reports that void a node's answer, and the re-check before the nodes are asked: each failed before its fix.
/// Real RocksDB store, manual clock, in-memory gateway.
/// </summary>
public sealed class GcWakeReviewTests
{
    /// <summary>
    /// HIGH (review gw53). The nodes of phase 2 are asked one after another (each call up to 30 s,
    /// GrpcStorageNodeGateway.CallTimeout); the re-check for lost chunks ran once per slice, before the first. A corrupt
    /// report landing while an earlier node of the slice is asked (here: the delete of an unrelated unreferenced chunk D,
    /// on another node) left b's owed copy the last intact bytes of alice's referenced chunk C, and b was asked to delete
    /// it. Each node's chunks are now re-checked under the lock right before it is asked (GarbageCollector.StillOwed).
    /// </summary>
    [Fact]
    public async Task A_chunk_lost_while_an_earlier_node_of_the_slice_deletes_keeps_the_owed_nodes_bytes()
    {
        // Arrange: one copy per chunk. Bob's C on b, its deletion stuck (b down); alice's upload of C commits elsewhere.
        // Carol's D (sorted before C, so its node is asked first) is put and never committed. Past D's grace, b is back.
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var c = StoreHarness.Chunk(7788);
        var d = ChunkSortedBefore(c, firstSeed: 9100);
        await StickDeletionAsync(h, c, [NodeB]);
        var holder = await CommittedOnAsync(h, h.Store.AddUser("alice").Item1, c);
        Assert.NotEqual(NodeB, holder);
        var (carol, _) = h.Store.AddUser("carol");
        var plan = h.Store.PlanUpload(carol, StoreHarness.Upload("d", 0, d));
        PutAll(h, carol, plan, [d]);
        var dNode = Assert.Single(plan.Missing).Node.NodeId;
        Assert.NotEqual(NodeB, dNode);
        h.Clock.Advance(h.Options.GcGracePeriod + TimeSpan.FromMinutes(1));
        h.Gateway.Down.TryRemove(NodeB, out _);
        HeartbeatAll(h);

        // While the first node of phase 2 (D's) is being asked, alice's copy of C is found corrupt.
        var first = 0;
        var bHeldThen = false;
        h.Gateway.BeforeDelete = () =>
        {
            if (Interlocked.Increment(ref first) == 1)
            {
                bHeldThen = h.Gateway.Holds(NodeB, c.Id) && h.Gateway.Holds(dNode, d.Id);
                h.Gateway.Remove(holder, c.Id);
                h.Store.ReportChunksCorrupt(holder, [c.Id]);
            }

            return Task.CompletedTask;
        };

        // Act
        await h.Store.RunGcOnceAsync(CancellationToken.None);

        // Assert: C is lost as far as the ledger knows; b's bytes were its last intact ones and must still be there.
        var record = ChunkLedger.Read(h.Store.Engine, c.Id)!;
        Assert.True(bHeldThen, "the first delete call should be D's, with b not yet asked");
        Assert.Equal("b holds True; refcount 1",
            $"b holds {h.Gateway.Holds(NodeB, c.Id)}; refcount {record.Refcount}");
    }

    /// <summary>
    /// MEDIUM (review gw53). FinishOwedAsync ran the full phase 1 on every chunk owed by a returned node, including one
    /// DUE for deletion itself (unreferenced past the grace): it marked the whole chunk DELETING, moving its live,
    /// never-down holder c into DeletingLocations, but asked only the returned node. c then owed a deletion nobody sent
    /// until the next full pass (up to 300 s), and an upload whose put landed on c was refused that long. A wake run now
    /// only finishes what the returned nodes owe and starts no deletion.
    /// </summary>
    [Fact]
    public async Task Finishing_a_returned_nodes_deletions_does_not_leave_a_live_node_owing_one()
    {
        using var h = new StoreHarness(o => o with { NodeTimeout = TimeSpan.FromSeconds(35), ReplicationFactor = 1, EventWait = TimeSpan.Zero, KeepVersions = 1 });
        var e = await DueWithAnOwedDeletionAsync(h);

        // Act: b is back; the collector finishes what b owes (as its service does when woken).
        h.Gateway.Down.TryRemove(NodeB, out _);
        var returns = h.Store.NodeReturns;
        h.Store.Nodes.Heartbeat(NodeB, 0, 0);
        Assert.True(returns.IsCompleted, "b's heartbeat after it read dead should wake the collector");
        await h.Store.FinishOwedDeletionsAsync(CancellationToken.None);
        var record = ChunkLedger.Read(h.Store.Engine, e.Id)!;
        var owed = $"{record.State}, owed {string.Join(",", record.DeletingLocations)}, c holds {h.Gateway.Holds(NodeC, e.Id)}";

        // ... and dave uploads the same content (E's best node is c), before any full pass.
        var dave = await RoundsAsync(h, h.Store.AddUser("dave").Item1, e);

        // Assert: no live node is left owing a deletion nobody sends; dave's upload commits.
        Same("owed: none; dave: committed", $"owed: {(record.DeletingLocations.Count == 0 ? "none" : owed)}; dave: {Summary(dave)}");
    }

    /// <summary>Control of the test above (passed before the fix too): the same without b coming back, as on main. Dave's upload commits.</summary>
    [Fact]
    public async Task Without_the_wake_the_upload_of_the_due_chunk_commits()
    {
        using var h = new StoreHarness(o => o with { NodeTimeout = TimeSpan.FromSeconds(35), ReplicationFactor = 1, EventWait = TimeSpan.Zero, KeepVersions = 1 });
        var e = await DueWithAnOwedDeletionAsync(h);

        var dave = await RoundsAsync(h, h.Store.AddUser("dave").Item1, e);

        Same("dave: committed", $"dave: {Summary(dave)}");
    }

    /// <summary>
    /// One copy per chunk, one version kept, nodes a, b, c. Bob's E on b, its deletion stuck (b down); carol's upload
    /// of E commits on c (E's best node), then carol replaces the file: E is unreferenced. a and c heartbeat through E's
    /// grace (the service's run for them, back after the harness's clock jump, finds nothing owed); b is silent (dead).
    /// </summary>
    private static async Task<ChunkRef> DueWithAnOwedDeletionAsync(StoreHarness h)
    {
        h.Store.Nodes.Register(new NodeRegistration(NodeB, "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0));
        h.Store.Nodes.Register(new NodeRegistration(NodeC, "http://127.0.0.1:3", "http://127.0.0.1:3", 0, 0));
        var e = ChunkWhereBestIs(NodeC, [StoreHarness.NodeA, NodeB, NodeC], firstSeed: 8200);
        var g = StoreHarness.Chunk(8199);
        await StickDeletionAsync(h, e, [NodeB]);
        var (carol, _) = h.Store.AddUser("carol");
        Assert.Equal(NodeC, await CommittedOnAsync(h, carol, e));
        var replace = h.Store.PlanUpload(carol, StoreHarness.Upload("f", 1, g));
        PutAll(h, carol, replace, [g]);
        await h.Store.CommitAsync(carol, StoreHarness.Upload("f", 1, g), CancellationToken.None);
        Assert.Equal(0, ChunkLedger.Read(h.Store.Engine, e.Id)!.Refcount);
        AdvanceKeepingLive(h, h.Options.GcGracePeriod + TimeSpan.FromMinutes(1), StoreHarness.NodeA, NodeC);
        await h.Store.FinishOwedDeletionsAsync(CancellationToken.None);
        var before = ChunkLedger.Read(h.Store.Engine, e.Id)!;
        Assert.Equal($"Stored; owed {NodeB}; locations {NodeC}", $"{before.State}; owed {string.Join(",", before.DeletingLocations)}; locations {string.Join(",", before.Locations)}");
        return e;
    }

    /// <summary>
    /// MEDIUM (review gw53). The wake is keyed on liveness, and a returned node is taken off the list when the run
    /// starts: a delete that failed on that run (the node's first call timing out, a transient network error) was not
    /// retried while the node stayed live, so uploads placed on it were refused until the next full pass (up to 300 s).
    /// A node whose deletions failed is now due again after a back-off, and its next heartbeat then wakes the collector.
    /// </summary>
    [Fact]
    public async Task An_owed_deletion_that_fails_on_the_wake_run_is_retried_while_the_node_stays_live()
    {
        // Arrange: one copy per chunk; bob's copy on b (the content's best node), its deletion stuck (b down).
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var chunk = ChunkWhereBestIs(NodeB, [StoreHarness.NodeA, NodeB, NodeC], firstSeed: 5000);
        await StickDeletionAsync(h, chunk, [NodeB]);

        // Act: b heartbeats again, but the wake run's delete to it fails once (b still starting up, a timeout).
        HeartbeatAll(h);
        await h.Store.FinishOwedDeletionsAsync(CancellationToken.None);
        h.Gateway.Down.TryRemove(NodeB, out _);
        h.Clock.Advance(TimeSpan.FromSeconds(10));
        var returns = h.Store.NodeReturns;
        HeartbeatAll(h);
        await h.Store.FinishOwedDeletionsAsync(CancellationToken.None);
        var alice = await RoundsAsync(h, h.Store.AddUser("alice").Item1, chunk);

        // Assert: the deletion is retried once b answers, and alice's upload (placed on b) commits before a full pass.
        var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        Same("woken True; owed ; alice committed",
            $"woken {returns.IsCompleted}; owed {string.Join(",", record.DeletingLocations)}; alice {Summary(alice)}");
    }

    /// <summary>
    /// MEDIUM (review gw53). Every corrupt report bumped its node's count, even one that changes nothing: the storage
    /// node re-sends its whole quarantined set every 5 minutes (ClusterAgent CorruptResendInterval) for as long as the set
    /// is not empty. A commit whose check of that node was in flight then dropped the node's answer about an unrelated
    /// chunk and was refused (NotFound; the client uploads again). Only an answer about a chunk the node reported since
    /// it was asked is dropped now (StoreTransactions.ReportedCorruptSince).
    /// </summary>
    [Fact]
    public async Task A_resent_corrupt_report_of_an_unrelated_chunk_does_not_refuse_a_commit()
    {
        // Arrange: the chunk is a DELETED tombstone (alice's put event is not trusted: her commit asks the nodes). Her
        // put's node quarantined an unrelated chunk Z long ago and reported it.
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var chunk = StoreHarness.Chunk(31338);
        var z = StoreHarness.Chunk(31339);
        await StickDeletionAsync(h, chunk, [NodeB], downB: false);
        HeartbeatAll(h);
        var (alice, _) = h.Store.AddUser("alice");
        var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk));
        var holder = Assert.Single(plan.Missing).Node.NodeId;
        PutAll(h, alice, plan, [chunk]);
        h.Store.ReportChunksCorrupt(holder, [z.Id]);
        var asked = h.Store.Nodes.LiveNodes().Count(n => !n.Draining);
        var calls = 0;
        h.Gateway.AfterHas = () =>
        {
            if (Interlocked.Increment(ref calls) == asked)
            {
                h.Store.ReportChunksCorrupt(holder, [z.Id]); // the periodic full re-send: changes nothing
            }

            return Task.CompletedTask;
        };

        // Act
        var commit = await Record.ExceptionAsync(() => h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, chunk), CancellationToken.None));

        // Assert
        Assert.Equal(asked, calls);
        Same("committed", commit is null ? "committed" : commit is DropboxException ex ? $"{ex.Kind}: {ex.Message}" : commit.GetType().Name);
    }

    /// <summary>
    /// MEDIUM (review gw53, a risk made likelier by the wake). The wake fires as a node comes back, which after a shared
    /// outage (a rack, a switch) is when the other nodes may still be down. A referenced chunk whose only counted copy is
    /// on a node still dead was not "lost" (ChunkLedger.IsLost counts listed copies, live or not), so the returned node's
    /// owed copy, intact and the only one reachable, was deleted at once; should the dead node never come back, the file
    /// was damaged though intact bytes existed. The owed deletion is now given up as for a lost chunk.
    /// </summary>
    [Fact]
    public async Task An_owed_copy_is_kept_while_the_chunks_only_counted_copy_is_on_a_dead_node()
    {
        // Arrange: one copy per chunk. Bob's C on b, its deletion stuck (b down); alice's upload of C commits elsewhere.
        // Then alice's holder goes silent too (it reads dead); the third node heartbeats on.
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var c = StoreHarness.Chunk(7790);
        await StickDeletionAsync(h, c, [NodeB]);
        var holder = await CommittedOnAsync(h, h.Store.AddUser("alice").Item1, c);
        var other = holder == StoreHarness.NodeA ? NodeC : StoreHarness.NodeA;
        AdvanceKeepingLive(h, TimeSpan.FromSeconds(60), other);
        await h.Store.FinishOwedDeletionsAsync(CancellationToken.None); // the run for the nodes back after the harness's clock jumps

        // Act: b is back (its heartbeat wakes the collector), alice's holder still dead.
        h.Gateway.Down.TryRemove(NodeB, out _);
        h.Store.Nodes.Heartbeat(NodeB, 0, 0);
        await h.Store.FinishOwedDeletionsAsync(CancellationToken.None);

        // Assert: b's intact bytes, the only ones reachable now, are kept until a live copy is counted.
        Assert.False(h.Store.Nodes.IsLive(h.Store.Nodes.Require(holder)));
        Same("b holds True", $"b holds {h.Gateway.Holds(NodeB, c.Id)}");
    }

    [Fact]
    public async Task A_node_whose_owed_deletion_keeps_failing_is_tried_again_on_a_heartbeat_after_a_doubling_back_off()
    {
        // Arrange: bob's copy on b, its deletion stuck (b down: the pass's delete failed). b heartbeats again, and the
        // wake run's delete fails too (the pass's failure set a 1 s back-off, so this one sets 2 s).
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var chunk = StoreHarness.Chunk(5100);
        await StickDeletionAsync(h, chunk, [NodeB]);
        HeartbeatAll(h);
        await h.Store.FinishOwedDeletionsAsync(CancellationToken.None);

        // Act: heartbeats 1, 2, 4 and 6 s after that failure (each due run failing again), then b answers.
        var heard = new List<string>();
        foreach (var (after, up) in new[] { (1, false), (1, false), (2, false), (2, false), (8, true), (20, true) })
        {
            if (up)
            {
                h.Gateway.Down.TryRemove(NodeB, out _);
            }

            var returns = h.Store.NodeReturns;
            h.Clock.Advance(TimeSpan.FromSeconds(after));
            HeartbeatAll(h);
            heard.Add(returns.IsCompleted ? "woken" : "quiet");
            await h.Store.FinishOwedDeletionsAsync(CancellationToken.None);
        }

        // Assert: woken only once each back-off has passed; after the deletion is done, b's heartbeats are quiet again.
        var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        Same("quiet,woken,quiet,woken,woken,quiet; Deleted, owed none, b holds False",
            $"{string.Join(",", heard)}; {record.State}, owed {(record.DeletingLocations.Count == 0 ? "none" : string.Join(",", record.DeletingLocations))}, b holds {h.Gateway.Holds(NodeB, chunk.Id)}");
    }

    [Fact]
    public async Task A_resent_corrupt_report_of_an_unrelated_chunk_during_a_push_does_not_void_the_pushed_copy()
    {
        // Arrange: alice's two chunks committed on one node each; the push target quarantined an unrelated chunk Z once.
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        HeartbeatAll(h);
        var (alice, _) = h.Store.AddUser("alice");
        var first = StoreHarness.Chunk(31350);
        var second = StoreHarness.Chunk(31351);
        var z = StoreHarness.Chunk(31352);
        var holder = await CommittedOnAsync(h, alice, first);
        var target = holder == NodeC ? NodeB : NodeC;
        h.Store.ReportChunksCorrupt(target, [z.Id]);

        // Act: a push of the first chunk to the target, during which the target re-sends its quarantined set (Z) ...
        var before = h.Store.PushCounters();
        h.Gateway.Put(target, first.Id);
        h.Store.ReportChunksCorrupt(target, [z.Id]);
        h.Store.RecordPushed(target, [first.Id], before);

        // ... and one of the second chunk, which the target quarantines and reports before the push's answer returns.
        await CommittedOnAsync(h, h.Store.AddUser("bob").Item1, second);
        before = h.Store.PushCounters();
        h.Store.ReportChunksCorrupt(target, [second.Id]);
        h.Store.RecordPushed(target, [second.Id], before);

        // Assert
        Same("re-send of Z: listed True; the pushed chunk reported: listed False",
            $"re-send of Z: listed {ChunkLedger.Read(h.Store.Engine, first.Id)!.Locations.Contains(target)}; " +
            $"the pushed chunk reported: listed {ChunkLedger.Read(h.Store.Engine, second.Id)!.Locations.Contains(target)}");
    }

    /// <summary>The first test chunk from <paramref name="firstSeed"/> on whose id sorts before <paramref name="than"/>'s (the collector's scan order).</summary>
    private static ChunkRef ChunkSortedBefore(ChunkRef than, int firstSeed)
    {
        for (var seed = firstSeed; ; seed++)
        {
            var chunk = StoreHarness.Chunk(seed);
            if (string.CompareOrdinal(chunk.Id.ToString(), than.Id.ToString()) < 0)
            {
                return chunk;
            }
        }
    }

    /// <summary>Moves the clock by <paramref name="by"/> in steps within the node timeout, <paramref name="live"/> heartbeating at each.</summary>
    private static void AdvanceKeepingLive(StoreHarness h, TimeSpan by, params string[] live)
    {
        var step = TimeSpan.FromSeconds(20);
        for (var done = TimeSpan.Zero; done < by; done += step)
        {
            h.Clock.Advance(step);
            foreach (var node in live)
            {
                h.Store.Nodes.Heartbeat(node, 0, 0);
            }
        }
    }

    /// <summary>Assert.Equal with the whole of both strings in the failure message (xUnit cuts long ones short).</summary>
    private static void Same(string expected, string actual) =>
        Assert.True(expected == actual, $"Expected: \"{expected}\"\nActual:   \"{actual}\"");

    /// <summary>"committed", or the rounds refused: "4 rounds refused: puts 0:node-c, NotFound; ...".</summary>
    private static string Summary(string rounds) =>
        rounds.EndsWith("committed", StringComparison.Ordinal) ? "committed" : $"{rounds.Split("; ").Length} rounds refused: {rounds}";

    /// <summary>A user's upload of the content (plan, puts, commit), up to four rounds; the node holding it after.</summary>
    private static async Task<string> CommittedOnAsync(StoreHarness h, UserInfo user, ChunkRef chunk)
    {
        var outcome = await RoundsAsync(h, user, chunk);
        Assert.EndsWith("committed", outcome);
        return Assert.Single(ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations);
    }

    /// <summary>The rounds of a user's upload of the content at 'f', "puts ..., outcome" each, until one commits (at most four).</summary>
    private static async Task<string> RoundsAsync(StoreHarness h, UserInfo user, ChunkRef chunk)
    {
        var outcomes = new List<string>();
        for (var round = 0; round < 4; round++)
        {
            var plan = h.Store.PlanUpload(user, StoreHarness.Upload("f", 0, chunk));
            PutAll(h, user, plan, [chunk]);
            var commit = await Record.ExceptionAsync(() => h.Store.CommitAsync(user, StoreHarness.Upload("f", 0, chunk), CancellationToken.None));
            outcomes.Add($"puts {string.Join(",", Puts(plan, [chunk]))}, {(commit is null ? "committed" : commit is DropboxException e ? e.Kind.ToString() : commit.GetType().Name)}");
            if (commit is null)
            {
                break;
            }
        }

        return string.Join("; ", outcomes);
    }
}
