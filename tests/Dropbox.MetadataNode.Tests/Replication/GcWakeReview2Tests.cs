using System.Security.Cryptography;
using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using static Dropbox.MetadataNode.Tests.Replication.ReplanHarness;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>
/// Review gw53b's probes of commits 707b329, 720cf46, 79d7bfb (the fixes of review gw53), kept as regression tests. Real
/// RocksDB store, manual clock, in-memory gateway.
/// </summary>
public sealed class GcWakeReview2Tests
{
    /// <summary>
    /// HIGH (risk; 707b329 makes it likely). An owed deletion exists because a delete sent to the node may still land
    /// (ChunkLedger.MarkStored: "that deletion may be on its way to it"). 707b329 gives an owed deletion up as soon as
    /// no counted copy is on a LIVE node, and retries a failed node 1 s after the failure: a delete that timed out at
    /// the metadata node (30 s call timeout) but is still queued on the storage node is given up a second later, the
    /// node becomes an unconfirmed location, and its own "I hold it" answer to the next commit lists it; then the
    /// late delete runs. The ledger counts a copy that does not exist, the only one on a live node.
    /// </summary>
    [Fact]
    public async Task a_delete_that_just_timed_out_is_not_given_up_for_a_commit_to_list_the_node()
    {
        // Arrange: one copy per chunk; the content's best node is b. Bob's copy on b, its deletion stuck (b down).
        // Alice's upload commits on another node (her holder).
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var c = ChunkWhereBestIs(NodeB, [StoreHarness.NodeA, NodeB, NodeC], firstSeed: 7800);
        await StickDeletionAsync(h, c, [NodeB]);
        var holder = await CommittedOnAsync(h, h.Store.AddUser("alice").Item1, c);
        Assert.NotEqual(NodeB, holder);
        var other = holder == StoreHarness.NodeA ? NodeC : StoreHarness.NodeA;

        // b heartbeats again; the wake run's delete to b hangs for the call timeout (the holder goes silent meanwhile)
        // and fails at the metadata node, while b still has it queued (b's disk is slow).
        h.Store.Nodes.Heartbeat(NodeB, 0, 0);
        var calls = 0;
        h.Gateway.BeforeDelete = () =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                AdvanceKeepingLive(h, TimeSpan.FromSeconds(40), NodeB, other);
            }

            return Task.CompletedTask;
        };
        await h.Store.FinishOwedDeletionsAsync(CancellationToken.None);
        Assert.True(h.Gateway.Holds(NodeB, c.Id), "b's delete should have failed at the metadata node");
        Assert.False(h.Store.Nodes.IsLive(h.Store.Nodes.Require(holder)));

        // Act: 2 s later b's heartbeat wakes the retry; the holder reads dead, so b's owed deletion is given up.
        AdvanceKeepingLive(h, TimeSpan.FromSeconds(2), NodeB, other);
        await h.Store.FinishOwedDeletionsAsync(CancellationToken.None);
        await h.Store.FinishOwedDeletionsAsync(CancellationToken.None);
        var afterRetry = ChunkLedger.Read(h.Store.Engine, c.Id)!;
        var state = $"owed {string.Join(",", afterRetry.DeletingLocations)}; unconfirmed {string.Join(",", afterRetry.UnconfirmedLocations)}";

        // Dave uploads the same content (placed on b, its best node); the commit asks b, which still holds the bytes.
        h.Gateway.Down.TryRemove(NodeB, out _);
        var dave = await RoundsAsync(h, h.Store.AddUser("dave").Item1, c);

        // ... and then b's late delete runs.
        h.Gateway.Remove(NodeB, c.Id);

        // Assert: no listed location without the bytes.
        var record = ChunkLedger.Read(h.Store.Engine, c.Id)!;
        var empty = record.Locations.Where(n => !h.Gateway.Holds(n, c.Id));
        Assert.True(!empty.Any(), $"listed without the bytes: {string.Join(",", empty)} (after the retry: {state}; dave: {dave})");
    }

    /// <summary>
    /// HIGH (risk; same root as the probe above, within one run). StillOwed (707b329) gives up, for a chunk whose holders
    /// read dead, every owed node not in deletedNow, including one whose delete failed (timed out) seconds before in the
    /// same run: b's delete hangs and fails, the holder reads dead meanwhile, StillOwed(d) gives up b and d, b becomes
    /// unconfirmed, a commit lists it from its own answer, and then b's late delete runs.
    /// </summary>
    [Fact]
    public async Task a_delete_that_failed_earlier_in_the_same_run_is_not_given_up_by_a_later_nodes_recheck()
    {
        // Arrange: one copy per chunk; best node b. Bob's copies on b and d, both deletions stuck (both down).
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), withD: true, eventWait: TimeSpan.Zero);
        var c = ChunkWhereBestIs(NodeB, [StoreHarness.NodeA, NodeB, NodeC, NodeD], firstSeed: 7850);
        h.Gateway.Down[NodeD] = true;
        await StickDeletionAsync(h, c, [NodeB, NodeD]);
        AdvanceKeepingLive(h, TimeSpan.FromSeconds(40), StoreHarness.NodeA, NodeC);
        var holder = await CommittedOnAsync(h, h.Store.AddUser("alice").Item1, c);
        var other = holder == StoreHarness.NodeA ? NodeC : StoreHarness.NodeA;
        var owed = string.Join(",", ChunkLedger.Read(h.Store.Engine, c.Id)!.DeletingLocations);
        Assert.Equal($"{NodeB},{NodeD}", owed);

        // b and d heartbeat again; d answers. The run asks b first: b's delete hangs (the holder goes silent meanwhile)
        // and fails at the metadata node, b still having it queued.
        h.Gateway.Down.TryRemove(NodeD, out _);
        h.Store.Nodes.Heartbeat(NodeB, 0, 0);
        h.Store.Nodes.Heartbeat(NodeD, 0, 0);
        var calls = 0;
        h.Gateway.BeforeDelete = () =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                AdvanceKeepingLive(h, TimeSpan.FromSeconds(40), NodeB, NodeD, other);
            }

            return Task.CompletedTask;
        };

        // Act
        await h.Store.FinishOwedDeletionsAsync(CancellationToken.None);
        var afterRun = ChunkLedger.Read(h.Store.Engine, c.Id)!;
        var state = $"calls {calls}; owed {string.Join(",", afterRun.DeletingLocations)}; unconfirmed {string.Join(",", afterRun.UnconfirmedLocations)}";
        h.Gateway.BeforeDelete = null;
        h.Gateway.Down.TryRemove(NodeB, out _);
        var dave = await RoundsAsync(h, h.Store.AddUser("dave").Item1, c);
        h.Gateway.Remove(NodeB, c.Id); // b's late delete

        // Assert
        var record = ChunkLedger.Read(h.Store.Engine, c.Id)!;
        var empty = record.Locations.Where(n => !h.Gateway.Holds(n, c.Id));
        Assert.True(!empty.Any(), $"listed without the bytes: {string.Join(",", empty)} (after the run: {state}; dave: {dave})");
    }

    /// <summary>
    /// MEDIUM (720cf46). The per-node record of reported chunks is emptied when Last.Count + ids.Count passes 16,384,
    /// counting the chunks of a re-send that are there already: a node with more than 8,192 quarantined chunks trims
    /// its record at every other 5-minute re-send, and the trim voids (DroppedUpTo) that node's answer about every chunk
    /// for a commit whose question overlapped the re-send: the review-gw53 refusal is back for such a node.
    /// </summary>
    [Fact]
    public async Task a_resent_quarantined_set_of_9000_chunks_does_not_refuse_an_unrelated_commit()
    {
        // Arrange: the chunk is a DELETED tombstone (alice's put event is not trusted: her commit asks the nodes). Her
        // put's node quarantined 9,000 unrelated chunks long ago and reported them.
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var chunk = StoreHarness.Chunk(31440);
        var quarantined = Enumerable.Range(0, 9_000).Select(i => new ChunkId(SHA256.HashData(BitConverter.GetBytes(i)))).ToList();
        await StickDeletionAsync(h, chunk, [NodeB], downB: false);
        HeartbeatAll(h);
        var (alice, _) = h.Store.AddUser("alice");
        var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk));
        var holder = Assert.Single(plan.Missing).Node.NodeId;
        PutAll(h, alice, plan, [chunk]);
        h.Store.ReportChunksCorrupt(holder, quarantined);
        var asked = h.Store.Nodes.LiveNodes().Count(n => !n.Draining);
        var calls = 0;
        h.Gateway.AfterHas = () =>
        {
            if (Interlocked.Increment(ref calls) == asked)
            {
                h.Store.ReportChunksCorrupt(holder, quarantined); // the periodic full re-send: changes nothing
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
    /// Past the per-node limit only the oldest reports are dropped: an answer asked after them is still trusted for a
    /// chunk not reported since; one asked before a dropped report is not trusted for any chunk.
    /// </summary>
    [Fact]
    public void A_node_record_past_its_limit_drops_only_the_oldest_reports()
    {
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var t = h.Store.Transactions;
        var ids = Enumerable.Range(0, 17_000).Select(i => new ChunkId(SHA256.HashData(BitConverter.GetBytes(i)))).ToList();
        var unrelated = StoreHarness.Chunk(31441).Id;
        var beforeAll = t.CorruptReportSequence;
        t.NoteCorruptReportFrom(NodeB, ids[..16_000]);
        var asked = t.CorruptReportSequence;
        t.NoteCorruptReportFrom(NodeB, ids[16_000..]);

        Same("unrelated False; new True; asked before the dropped report True",
            $"unrelated {t.ReportedCorruptSince(NodeB, unrelated, asked)}; new {t.ReportedCorruptSince(NodeB, ids[16_500], asked)}; " +
            $"asked before the dropped report {t.ReportedCorruptSince(NodeB, unrelated, beforeAll)}");
    }

    /// <summary>
    /// Control (brief item a): every node reads dead at once (a metadata-node stall, a clock jump) while a referenced
    /// chunk has an owed deletion: a pass gives it up (the node becomes an unconfirmed location). Once the chunk is
    /// unreferenced, a later pass must still delete that copy: no space leak.
    /// </summary>
    [Fact]
    public async Task an_owed_copy_given_up_in_a_stall_is_deleted_once_the_chunk_is_unreferenced()
    {
        using var h = new StoreHarness(o => o with { NodeTimeout = TimeSpan.FromSeconds(35), ReplicationFactor = 1, EventWait = TimeSpan.Zero, KeepVersions = 1 });
        h.Store.Nodes.Register(new NodeRegistration(NodeB, "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0));
        h.Store.Nodes.Register(new NodeRegistration(NodeC, "http://127.0.0.1:3", "http://127.0.0.1:3", 0, 0));
        var c = StoreHarness.Chunk(7900);
        var g = StoreHarness.Chunk(7901);
        await StickDeletionAsync(h, c, [NodeB]);
        var (carol, _) = h.Store.AddUser("carol");
        await CommittedOnAsync(h, carol, c);
        h.Gateway.Down.TryRemove(NodeB, out _);

        // A stall: the clock moves 60 s with no heartbeat heard; a pass runs before any node is heard again.
        h.Clock.Advance(TimeSpan.FromSeconds(60));
        await h.Store.RunGcOnceAsync(CancellationToken.None);
        var givenUp = ChunkLedger.Read(h.Store.Engine, c.Id)!;
        var state = $"owed {string.Join(",", givenUp.DeletingLocations)}; unconfirmed {string.Join(",", givenUp.UnconfirmedLocations)}";

        // Carol replaces the file: c is unreferenced. Past its grace, with every node heartbeating, a pass runs.
        HeartbeatAll(h);
        var replace = h.Store.PlanUpload(carol, StoreHarness.Upload("f", 1, g));
        PutAll(h, carol, replace, [g]);
        await h.Store.CommitAsync(carol, StoreHarness.Upload("f", 1, g), CancellationToken.None);
        AdvanceKeepingLive(h, h.Options.GcGracePeriod + TimeSpan.FromMinutes(1), StoreHarness.NodeA, NodeB, NodeC);
        await h.Store.RunGcOnceAsync(CancellationToken.None);

        var record = ChunkLedger.Read(h.Store.Engine, c.Id)!;
        Same($"given up: owed ; unconfirmed {NodeB}; then Deleted, b holds False",
            $"given up: {state}; then {record.State}, b holds {h.Gateway.Holds(NodeB, c.Id)}");
    }

    /// <summary>
    /// LOW (707b329). The back-off runs from the end of a failed run, but a heartbeat during the run (a delete call
    /// hangs up to 30 s) still sees the previous, due retry and queues the node again: the run that fails is followed
    /// by another at once, and so on while the back-off is shorter than a call (1, 2, 4, 8, 16 s): about six
    /// back-to-back 30 s runs against a node that hangs, each scanning every collection candidate.
    /// </summary>
    [Fact]
    public async Task a_heartbeat_during_a_failing_wake_run_does_not_queue_another_run_at_once()
    {
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var chunk = StoreHarness.Chunk(5200);
        await StickDeletionAsync(h, chunk, [NodeB]); // the pass's delete to b failed: a 1 s back-off
        h.Store.Nodes.Heartbeat(NodeB, 0, 0); // b is back: woken
        h.Gateway.BeforeDelete = () =>
        {
            AdvanceKeepingLive(h, TimeSpan.FromSeconds(30), StoreHarness.NodeA, NodeB, NodeC); // the call hangs 30 s
            return Task.CompletedTask;
        };

        var runs = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var returns = h.Store.NodeReturns; // taken before the run, as GarbageCollectorService does
            var result = await h.Store.FinishOwedDeletionsAsync(CancellationToken.None);
            runs.Add($"failed {result.FailedChunks}, woken again {returns.IsCompleted}");
        }

        Same("failed 1, woken again False", runs[0] == "failed 1, woken again False" ? runs[0] : $"{runs[0]} (runs: {string.Join("; ", runs)})");
    }

    /// <summary>Moves the clock by <paramref name="by"/> in steps within the node timeout, <paramref name="live"/> heartbeating at each.</summary>
    private static void AdvanceKeepingLive(StoreHarness h, TimeSpan by, params string[] live)
    {
        var step = TimeSpan.FromSeconds(Math.Min(20, by.TotalSeconds));
        for (var done = TimeSpan.Zero; done < by; done += step)
        {
            h.Clock.Advance(step);
            foreach (var node in live)
            {
                h.Store.Nodes.Heartbeat(node, 0, 0);
            }
        }
    }

    private static void Same(string expected, string actual) =>
        Assert.True(expected == actual, $"Expected: \"{expected}\"\nActual:   \"{actual}\"");

    private static async Task<string> CommittedOnAsync(StoreHarness h, UserInfo user, ChunkRef chunk)
    {
        var outcome = await RoundsAsync(h, user, chunk);
        Assert.EndsWith("committed", outcome);
        return Assert.Single(ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations);
    }

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
