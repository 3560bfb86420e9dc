using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using static Dropbox.MetadataNode.Tests.Replication.ReplanHarness;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>
/// The review's sequences (stop 52, review-gc52) around the collector's per-node deletion (real RocksDB store, manual
/// clock, in-memory gateway): late "stored" events from a node whose deletion finished, a commit that asked a node
/// before its deletion, a lost chunk whose last intact bytes an owed deletion would take, a forget and a restart while
/// a deletion is owed. (The two sequences left open then are fixed since: an upload placed on a node that is back but
/// still owes a deletion, ReturnedNodeDeletionTests; a copy reported corrupt while a commit asked, CorruptWhileAskedTests.)
/// </summary>
public sealed class GcDeletionReviewTests
{
    [Fact]
    public async Task The_refusals_on_a_returned_owing_node_end_with_the_next_collector_pass()
    {
        // As above (bob's deletion owed on b, b back, b best-placed, one copy per chunk), then the collector runs once.
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var chunk = ChunkWhereBestIs(NodeB, [StoreHarness.NodeA, NodeB, NodeC], firstSeed: 5000);
        await StickDeletionAsync(h, chunk, [NodeB]);
        h.Gateway.Down.TryRemove(NodeB, out _);
        HeartbeatAll(h);
        var (alice, _) = h.Store.AddUser("alice");
        Assert.Null(await CommitInRoundsAsync(h, alice, chunk));

        await h.Store.RunGcOnceAsync(CancellationToken.None);
        var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk));
        PutAll(h, alice, plan, [chunk]);
        await h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, chunk), CancellationToken.None);

        var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        Assert.Equal("Stored; locations: node-b; held: True; owed: ", $"{record.State}; locations: {string.Join(",", record.Locations)}; held: {h.Gateway.Holds(NodeB, chunk.Id)}; owed: {string.Join(",", record.DeletingLocations)}");
    }

    [Fact]
    public async Task A_late_stored_event_from_a_node_whose_deletion_finished_does_not_count_a_copy_it_no_longer_holds()
    {
        // Bob's copies on b and d; the collector deletes d's, b is down. Alice then uploads the same content (placed on
        // a and c), and commits. Then bob's "stored" event from d, held up in d's outbox since before d's deletion, arrives.
        using var h = Create(replicationFactor: 2, nodeTimeout: TimeSpan.FromSeconds(35), withD: true, eventWait: TimeSpan.Zero);
        var chunk = ChunkWhereLeastIs(NodeD, [StoreHarness.NodeA, NodeC, NodeD]);
        var bob = await StickDeletionAsync(h, chunk, [NodeB, NodeD]);
        Assert.False(h.Gateway.Holds(NodeD, chunk.Id));
        var alice = await CommitInRoundsAsync(h, "alice", chunk);
        Assert.NotNull(alice);

        LateEvent(h, bob, NodeD, chunk);

        var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        var phantom = record.Locations.Where(n => !h.Gateway.Holds(n, chunk.Id)).ToList();
        Assert.True(phantom.Count == 0, $"counted copies no node holds: {string.Join(",", phantom)}; locations {string.Join(",", record.Locations)}");
    }

    [Fact]
    public async Task The_node_holding_the_only_real_copy_is_not_drained_or_forgotten_on_the_strength_of_a_late_event()
    {
        // One copy per chunk. As above: bob's copies on b and d, d's deletion done, b down; alice's upload of the content
        // commits with its one copy on another node; bob's held-up event from d arrives. Then the operator drains alice's
        // node and, once it says "drained", forgets it (the documented way to retire a node).
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), withD: true, eventWait: TimeSpan.Zero);
        var chunk = ChunkWhereLeastIs(NodeD, [StoreHarness.NodeA, NodeC, NodeD]);
        var bob = await StickDeletionAsync(h, chunk, [NodeB, NodeD]);
        var alice = await CommitInRoundsAsync(h, "alice", chunk);
        Assert.NotNull(alice);
        var holder = Assert.Single(ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations);
        Assert.NotEqual(NodeD, holder);
        LateEvent(h, bob, NodeD, chunk);

        h.Store.SetDraining(holder, draining: true);
        var state = Dropbox.MetadataNode.Domain.Replication.NodeReport.Build(h.Store).Of(h.Store.Nodes.Require(holder)).State;
        var forget = state == "drained" ? Record.Exception(() => h.Store.ForgetNode(holder, force: false, live: false)) : null;

        // Alice's file still has its bytes somewhere (the drain waits for a copy elsewhere, or the forget refuses).
        Assert.True(h.Gateway.HoldsAnywhere(chunk.Id) && (state != "drained" || forget is not null),
            $"{holder}: {state}; forget: {(forget is null ? "done" : forget.Message)}; bytes left anywhere: {h.Gateway.HoldsAnywhere(chunk.Id)}; record lists {string.Join(",", ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations)}");
    }

    [Fact]
    public async Task The_same_late_event_after_a_deletion_every_node_finished_and_a_reupload()
    {
        // The same held-up event, where no node was down (the chunk went DELETED, then alice uploaded it again): whether
        // the phantom copy is the change's or older.
        using var h = Create(replicationFactor: 2, nodeTimeout: TimeSpan.FromSeconds(35), withD: true, eventWait: TimeSpan.Zero);
        var chunk = ChunkWhereLeastIs(NodeD, [StoreHarness.NodeA, NodeC, NodeD]);
        var bob = await StickDeletionAsync(h, chunk, [NodeD], downB: false);
        Assert.Equal(ChunkState.Deleted, ChunkLedger.Read(h.Store.Engine, chunk.Id)!.State);
        Assert.NotNull(await CommitInRoundsAsync(h, "alice", chunk));

        LateEvent(h, bob, NodeD, chunk);

        var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        var phantom = record.Locations.Where(n => !h.Gateway.Holds(n, chunk.Id)).ToList();
        Assert.True(phantom.Count == 0, $"counted copies no node holds: {string.Join(",", phantom)}; locations {string.Join(",", record.Locations)}");
    }

    [Fact]
    public async Task A_commit_that_asked_a_node_before_its_deletion_and_records_after_the_pass_does_not_count_it()
    {
        // Bob's copies on b and c; past the grace, b down. The pass marks the chunk DELETING; before its deletes go out,
        // alice's put lands on c and her commit asks c ("held"); then c deletes (b fails), the pass records c done, and
        // only then does her commit take the lock.
        using var h = Create(replicationFactor: 2, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var chunk = StoreHarness.Chunk(4242);
        var (bob, _) = h.Store.AddUser("bob");
        h.Store.PlanUpload(bob, StoreHarness.Upload("b", 0, chunk));
        Report(h, bob, NodeB, chunk);
        Report(h, bob, NodeC, chunk);
        h.Clock.Advance(h.Options.GcGracePeriod + TimeSpan.FromMinutes(1));
        h.Heartbeat();
        h.Store.Nodes.Heartbeat(NodeC, 0, 0);
        h.Gateway.Down[NodeB] = true;
        var (alice, _) = h.Store.AddUser("alice");

        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task? commit = null;
        var first = 0;
        h.Gateway.BeforeDelete = async () =>
        {
            if (Interlocked.Exchange(ref first, 1) != 0)
            {
                return;
            }

            h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk));
            Report(h, alice, NodeC, chunk);
            var calls = h.Gateway.HasCalls;
            h.Gateway.AfterHas = () => release.Task;
            commit = Task.Run(() => h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, chunk), CancellationToken.None));
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (h.Gateway.HasCalls == calls && DateTime.UtcNow < until)
            {
                await Task.Delay(5);
            }

            Assert.True(h.Gateway.HasCalls > calls, "alice's commit should have asked the nodes");
        };

        await h.Store.RunGcOnceAsync(CancellationToken.None);
        Assert.False(h.Gateway.Holds(NodeC, chunk.Id));
        release.SetResult();
        var outcome = await Record.ExceptionAsync(() => commit!.WaitAsync(TimeSpan.FromSeconds(30)));

        var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        var phantom = record.Locations.Where(n => !h.Gateway.Holds(n, chunk.Id)).ToList();
        Assert.True(outcome is DropboxException { Kind: ErrorKind.NotFound } || (outcome is null && phantom.Count == 0),
            $"commit: {outcome?.Message ?? "committed"}; counted copies no node holds: {string.Join(",", phantom)}");
    }

    [Fact]
    public async Task A_commit_that_asked_a_node_before_its_deletion_and_records_before_the_pass_ends_does_not_count_it()
    {
        // Bob's copies on c and b (in that order), past the grace, b down. The pass marks the chunk DELETING; as its
        // delete to c goes out, alice's put lands on c and her commit asks c ("held"); c deletes; as the delete to b goes
        // out (it fails), her commit takes the lock: before the pass records anything.
        using var h = Create(replicationFactor: 2, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var chunk = StoreHarness.Chunk(4343);
        var (bob, _) = h.Store.AddUser("bob");
        h.Store.PlanUpload(bob, StoreHarness.Upload("b", 0, chunk));
        Report(h, bob, NodeC, chunk);
        Report(h, bob, NodeB, chunk);
        h.Clock.Advance(h.Options.GcGracePeriod + TimeSpan.FromMinutes(1));
        h.Heartbeat();
        h.Store.Nodes.Heartbeat(NodeC, 0, 0);
        h.Gateway.Down[NodeB] = true;
        var (alice, _) = h.Store.AddUser("alice");

        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task? commit = null;
        var call = 0;
        Exception? outcome = null;
        h.Gateway.BeforeDelete = async () =>
        {
            switch (Interlocked.Increment(ref call))
            {
                case 1:
                    Assert.Equal([NodeC, NodeB], ChunkLedger.Read(h.Store.Engine, chunk.Id)!.DeletingLocations);
                    h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk));
                    Report(h, alice, NodeC, chunk);
                    var calls = h.Gateway.HasCalls;
                    h.Gateway.AfterHas = () => release.Task;
                    commit = Task.Run(() => h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, chunk), CancellationToken.None));
                    var until = DateTime.UtcNow + TimeSpan.FromSeconds(20);
                    while (h.Gateway.HasCalls == calls && DateTime.UtcNow < until)
                    {
                        await Task.Delay(5);
                    }

                    Assert.True(h.Gateway.HasCalls > calls, "alice's commit should have asked the nodes");
                    break;
                case 2:
                    Assert.False(h.Gateway.Holds(NodeC, chunk.Id), "c's delete should have gone first");
                    release.SetResult();
                    outcome = await Record.ExceptionAsync(() => commit!.WaitAsync(TimeSpan.FromSeconds(30)));
                    break;
            }
        };

        await h.Store.RunGcOnceAsync(CancellationToken.None);
        Assert.Equal(2, call);

        var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        var phantom = record.Locations.Where(n => !h.Gateway.Holds(n, chunk.Id)).ToList();
        Assert.True(outcome is DropboxException { Kind: ErrorKind.NotFound } || (outcome is null && phantom.Count == 0),
            $"commit: {outcome?.Message ?? "committed"}; counted copies no node holds: {string.Join(",", phantom)}; owed {string.Join(",", record.DeletingLocations)}");
        Assert.Empty(phantom);
    }

    [Fact]
    public async Task A_lost_chunk_keeps_the_intact_bytes_an_owed_deletion_would_take()
    {
        // One copy per chunk. Bob's copy on b, its deletion stuck (b down); alice's upload of the same content commits
        // with its one copy elsewhere, whose scrub then finds it corrupt: the chunk is lost. b comes back, still holding
        // bob's intact copy, and the collector runs.
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var chunk = StoreHarness.Chunk(777);
        await StickDeletionAsync(h, chunk, [NodeB]);
        Assert.NotNull(await CommitInRoundsAsync(h, "alice", chunk));
        var holder = Assert.Single(ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations);
        h.Gateway.Remove(holder, chunk.Id);
        h.Store.ReportChunksCorrupt(holder, [chunk.Id]);
        Assert.True(ChunkLedger.IsLost(ChunkLedger.Read(h.Store.Engine, chunk.Id)));

        h.Gateway.Down.TryRemove(NodeB, out _);
        HeartbeatAll(h);
        await h.Store.RunGcOnceAsync(CancellationToken.None);

        // The only intact bytes of a referenced chunk are not deleted.
        Assert.True(h.Gateway.HoldsAnywhere(chunk.Id), "the collector deleted b's copy, the last intact bytes of alice's referenced (lost) chunk");
    }

    [Fact]
    public async Task Forgetting_the_node_that_owes_the_deletion_leaves_a_consistent_record_and_no_candidate()
    {
        // Bob's copy on b, its deletion stuck (b down); alice's upload committed; b is then forgotten for good.
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var chunk = StoreHarness.Chunk(888);
        await StickDeletionAsync(h, chunk, [NodeB]);
        Assert.NotNull(await CommitInRoundsAsync(h, "alice", chunk));
        h.Store.ForgetNode(NodeB, force: false, live: false);
        await h.Store.RunGcOnceAsync(CancellationToken.None);

        var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        Assert.Equal("Stored; owed: ; candidate: False; all held: True",
            $"{record.State}; owed: {string.Join(",", record.DeletingLocations)}; candidate: {h.Store.Engine.ScanAll(h.Store.Engine.Gc).Any(kv => new ChunkId(kv.Item1) == chunk.Id)}; all held: {record.Locations.All(n => h.Gateway.Holds(n, chunk.Id))}");
        h.AssertConsistent();
    }

    [Fact]
    public async Task An_owed_deletion_survives_a_metadata_restart_and_is_finished_after_it()
    {
        // Bob's copy on b, its deletion stuck (b down); alice's upload committed; the metadata node restarts; b is back.
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var chunk = StoreHarness.Chunk(999);
        await StickDeletionAsync(h, chunk, [NodeB]);
        Assert.NotNull(await CommitInRoundsAsync(h, "alice", chunk));
        var alices = ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations.ToList();
        h.Reopen();
        h.Gateway.Down.TryRemove(NodeB, out _);
        HeartbeatAll(h);
        await h.Store.RunGcOnceAsync(CancellationToken.None);

        var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        Assert.Equal($"Stored; owed: ; b holds: False; alice's held: {alices.Count}",
            $"{record.State}; owed: {string.Join(",", record.DeletingLocations)}; b holds: {h.Gateway.Holds(NodeB, chunk.Id)}; alice's held: {alices.Count(n => h.Gateway.Holds(n, chunk.Id) && record.Locations.Contains(n))}");
        h.AssertConsistent();
    }

    private static async Task<string> RoundsOnReturnedNodeAsync(bool bobFirst)
    {
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var chunk = ChunkWhereBestIs(NodeB, [StoreHarness.NodeA, NodeB, NodeC], firstSeed: 5000);
        if (bobFirst)
        {
            await StickDeletionAsync(h, chunk, [NodeB]);
        }

        h.Gateway.Down.TryRemove(NodeB, out _);
        HeartbeatAll(h);
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

    /// <summary>Plan, put everything the plan asks for, commit; up to four rounds. The user, or null if never committed.</summary>
    private static Task<UserInfo?> CommitInRoundsAsync(StoreHarness h, string name, ChunkRef chunk) =>
        CommitInRoundsAsync(h, h.Store.AddUser(name).User, chunk);

    private static async Task<UserInfo?> CommitInRoundsAsync(StoreHarness h, UserInfo user, ChunkRef chunk)
    {
        for (var round = 0; round < 4; round++)
        {
            var plan = h.Store.PlanUpload(user, StoreHarness.Upload("f", 0, chunk));
            PutAll(h, user, plan, [chunk]);
            var commit = await Record.ExceptionAsync(() => h.Store.CommitAsync(user, StoreHarness.Upload("f", 0, chunk), CancellationToken.None));
            if (commit is null)
            {
                return user;
            }
        }

        return null;
    }

    /// <summary>A node's "stored" event for <paramref name="user"/>'s put, delivered now (the node does not hold the bytes any more).</summary>
    private static void LateEvent(StoreHarness h, UserInfo user, string node, ChunkRef chunk)
    {
        var report = new ReportChunksStoredRequest { NodeId = node };
        report.Chunks.Add(new StoredChunk { ChunkId = chunk.Id.ToByteString(), Size = (uint)chunk.Size, StoredSize = (uint)chunk.Size, NamespaceId = user.Namespace.Value });
        h.Store.ReportChunksStored(report);
    }

    private static ChunkRef ChunkWhereLeastIs(string node, string[] nodes)
    {
        for (var seed = 6000; ; seed++)
        {
            var chunk = StoreHarness.Chunk(seed);
            if (nodes.MinBy(n => Placement.Score(n, chunk.Id)) == node)
            {
                return chunk;
            }
        }
    }
}
