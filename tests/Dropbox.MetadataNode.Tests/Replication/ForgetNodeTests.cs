using Dropbox.MetadataNode.Cli;
using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Domain.Replication;
using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using static Dropbox.MetadataNode.Tests.Replication.ForgetHarness;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary><c>nodes forget</c> on a real store: refusal while a node holds a sole copy, --force naming the loss, no resurrection.</summary>
public sealed class ForgetNodeTests
{
    private static StoreHarness Harness() => ForgetHarness.Create();

    [Fact]
    public async Task Forgetting_a_node_with_the_only_copy_of_a_referenced_chunk_is_refused_naming_the_count_and_force_names_what_was_lost()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var both = StoreHarness.Chunk(1);
        var onlyA = StoreHarness.Chunk(2);
        await h.PutFileAsync(alice, "both.bin", 0, both);
        ReportOn(h, NodeB, alice, both);
        await h.PutFileAsync(alice, "only-a.bin", 0, onlyA);

        // Refused: one referenced chunk has no copy elsewhere; nothing changes.
        var refused = Assert.Throws<DropboxException>(() => h.Store.ForgetNode(StoreHarness.NodeA, force: false, live: true));
        Assert.Equal(ErrorKind.Conflict, refused.Kind);
        Assert.Contains("1 referenced chunk", refused.Message, StringComparison.Ordinal);
        Assert.Contains("--force", refused.Message, StringComparison.Ordinal);
        Assert.True(h.Store.Nodes.TryGet(StoreHarness.NodeA, out _));
        Assert.Contains(StoreHarness.NodeA, ChunkLedger.Read(h.Store.Engine, both.Id)!.Locations);

        // Forced: the lost chunk and the file version naming it are listed; every other copy survives.
        var forgotten = h.Store.ForgetNode(StoreHarness.NodeA, force: true, live: true);

        Assert.Equal(2, forgotten.LocationsCleared);
        Assert.Equal(1, forgotten.ChunksLost);
        Assert.Equal([onlyA.Id], forgotten.LostChunks);
        var lost = Assert.Single(forgotten.LostFiles);
        Assert.Equal(("alice", "only-a.bin"), (lost.User, lost.Path));
        Assert.False(h.Store.Nodes.TryGet(StoreHarness.NodeA, out _));
        Assert.Equal([NodeB], ChunkLedger.Read(h.Store.Engine, both.Id)!.Locations);
        Assert.Empty(ChunkLedger.Read(h.Store.Engine, onlyA.Id)!.Locations);
        Assert.Equal(both.Id, h.Store.GetDownloadPlan(alice, "both.bin", 0).Chunks[0].Chunk.Id);
    }

    [Fact]
    public async Task Forgetting_a_node_that_still_heartbeats_is_refused_unless_it_drains_or_live_is_given()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(7);
        await h.PutFileAsync(alice, "f", 0, chunk);
        ReportOn(h, NodeB, alice, chunk); // every chunk has a second copy: only the liveness check can refuse

        var refused = Assert.Throws<DropboxException>(() => h.Store.ForgetNode(StoreHarness.NodeA, force: true, live: false));

        Assert.Equal(ErrorKind.Conflict, refused.Kind);
        Assert.Contains("is running", refused.Message, StringComparison.Ordinal);
        Assert.Contains("--live", refused.Message, StringComparison.Ordinal);
        Assert.True(h.Store.Nodes.MayHoldNewCopies(StoreHarness.NodeA)); // nothing changed
        h.Store.Nodes.SetDraining(StoreHarness.NodeA, draining: true);
        Assert.Equal(0, h.Store.ForgetNode(StoreHarness.NodeA, force: false, live: false).ChunksLost); // drained: accepted
        Assert.False(h.Store.Nodes.TryGet(StoreHarness.NodeA, out _));
    }

    [Fact]
    public async Task A_forgotten_node_that_comes_back_is_refused_clearly_and_its_reports_restore_no_location()
    {
        using var h = Harness();
        var (alice, chunk) = await CommittedOnAAndBAsync(h, 1);
        h.Store.ForgetNode(StoreHarness.NodeA, force: false, live: true);
        h.Reopen();

        var register = Assert.Throws<DropboxException>(() => h.Store.Nodes.Register(new NodeRegistration(StoreHarness.NodeA, "http://127.0.0.1:1", "http://127.0.0.1:1", 0, 0)));
        Assert.Equal(ErrorKind.Conflict, register.Kind);
        Assert.Contains("new --node-id", register.Message, StringComparison.Ordinal);
        Assert.Equal("1", register.Details[ClusterErrorDetails.NodeForgotten]); // the storage node retires only on this
        Assert.Equal("1", GrpcErrorMapping.ToRpcException(register).Trailers.GetValue(ClusterErrorDetails.NodeForgotten));
        Assert.Equal(ErrorKind.NotFound, Assert.Throws<DropboxException>(() => h.Store.Nodes.Heartbeat(StoreHarness.NodeA, 0, 0)).Kind);
        var report = Assert.Throws<DropboxException>(() => ReportOn(h, StoreHarness.NodeA, alice, chunk));
        Assert.Contains("forgotten", report.Message, StringComparison.Ordinal);
        Assert.Equal([NodeB], ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations);
        Assert.Equal(ErrorKind.NotFound, Assert.Throws<DropboxException>(() => h.Store.ForgetNode("node-z", force: false, live: true)).Kind);
    }

    [Fact]
    public async Task Garbage_collection_stuck_on_a_dead_node_finishes_once_the_node_is_forgotten()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var orphan = StoreHarness.Chunk(7);
        h.Stored(alice, orphan); // never committed: garbage after the grace
        ReportOn(h, NodeB, alice, orphan);
        h.Gateway.Down[StoreHarness.NodeA] = true;
        h.Clock.Advance(Grace * 2);

        var stuck = await h.Store.RunGcOnceAsync(CancellationToken.None);
        Assert.Equal(1, stuck.FailedChunks);
        Assert.Equal(ChunkState.Deleting, ChunkLedger.Read(h.Store.Engine, orphan.Id)!.State);

        h.Store.ForgetNode(StoreHarness.NodeA, force: false, live: true);
        var after = await h.Store.RunGcOnceAsync(CancellationToken.None);

        Assert.Equal(0, after.FailedChunks);
        Assert.Equal(ChunkState.Deleted, ChunkLedger.Read(h.Store.Engine, orphan.Id)!.State);
        Assert.False(h.Gateway.Holds(NodeB, orphan.Id));
    }

    [Fact]
    public async Task A_forget_cut_short_after_the_registry_step_clears_the_locations_at_the_next_open()
    {
        using var h = Harness();
        var (alice, chunk) = await CommittedOnAAndBAsync(h, 1);

        // The state a crash leaves between the two steps: the node gone and forgotten, its locations still recorded.
        using (var batch = new RecordBatch(h.Store.Engine))
        {
            batch.DeleteNode(StoreHarness.NodeA);
            batch.PutForgottenNode(new ForgottenNodeEntry(new ForgottenNodeInfo(StoreHarness.NodeA, ForgottenUnixMs: 0, AllLocationsCleared: false), Read: null));
            batch.Commit(sync: true);
        }

        Assert.Contains(StoreHarness.NodeA, ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations);
        h.Reopen(unclean: true);

        Assert.Equal([NodeB], ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations);
        Assert.Empty(h.Store.Nodes.UnfinishedForgets());
        Assert.False(h.Store.Nodes.TryGet(StoreHarness.NodeA, out _));
    }

    [Fact]
    public async Task After_a_forced_forget_the_check_names_the_loss_once_per_node_as_a_note_not_an_inconsistency_until_the_content_is_uploaded_again()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var lost = Enumerable.Range(0, 3).Select(i => StoreHarness.Chunk(10 + i)).ToArray();
        for (var i = 0; i < lost.Length; i++)
        {
            await h.PutFileAsync(alice, $"f{i}", 0, lost[i]);
        }

        h.Store.ForgetNode(StoreHarness.NodeA, force: true, live: true);

        var (problems, notes) = h.Store.CheckConsistencyWithNotes();
        Assert.Empty(problems);
        var note = Assert.Single(notes);
        Assert.Contains("3 referenced chunk(s) were lost when storage node 'node-a' was forgotten with --force", note, StringComparison.Ordinal);

        // The same content uploaded again (to node B) is a copy again: no longer a loss.
        foreach (var chunk in lost)
        {
            ReportOn(h, NodeB, alice, chunk);
        }

        (problems, notes) = h.Store.CheckConsistencyWithNotes();
        Assert.Empty(problems);
        Assert.Empty(notes);
    }

    [Fact]
    public async Task A_forget_whose_wal_sync_fails_after_its_batch_was_written_leaves_the_node_forgotten_in_memory_too_so_no_later_copy_is_acknowledged_on_it()
    {
        using var h = Harness();
        var (alice, chunk) = await CommittedOnAAndBAsync(h, 1);

        // Act: the forget's batch is written, then forcing the WAL fails.
        h.Store.Transactions.AfterWriteNowCommit = () =>
        {
            h.Store.Transactions.AfterWriteNowCommit = null;
            throw new IOException("fsync failed (test)");
        };
        Assert.Throws<IOException>(() => h.Store.ForgetNode(StoreHarness.NodeA, force: false, live: true));

        // Assert: memory agrees with the store (forgotten): a copy on A is no longer recorded, so no commit can be
        // acknowledged on it that the next open's resumed clearing would then lose.
        Assert.True(h.Store.Nodes.IsForgotten(StoreHarness.NodeA));
        Assert.False(h.Store.Nodes.MayHoldNewCopies(StoreHarness.NodeA));
        var later = StoreHarness.Chunk(2);
        Assert.Throws<DropboxException>(() => h.Stored(alice, later));
        await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(alice, StoreHarness.Upload("g", 0, later), CancellationToken.None));
        h.Reopen(unclean: true);
        Assert.Equal([NodeB], ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations);
        h.AssertConsistent();
    }

    [Fact]
    public async Task A_link_made_while_a_holder_drains_or_is_being_forgotten_points_at_another_holder()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        // A file whose chunk lists A first among its holders (the order is the chunk's placement order).
        string? path = null;
        for (var seed = 3; seed < 40 && path is null; seed++)
        {
            var chunk = StoreHarness.Chunk(seed);
            await h.PutFileAsync(alice, $"f{seed}", 0, chunk);
            ReportOn(h, NodeB, alice, chunk);
            path = h.Store.GetDownloadPlan(alice, $"f{seed}", 0).Chunks[0].Holders[0].NodeId == StoreHarness.NodeA ? $"f{seed}" : null;
        }

        Assert.NotNull(path);

        h.Store.Nodes.SetDraining(StoreHarness.NodeA, draining: true);
        var whileDraining = h.Store.CreateLink(alice, path, 0, TimeSpan.FromMinutes(5)).Url;
        h.Store.Nodes.SetDraining(StoreHarness.NodeA, draining: false);
        string? whileForgetting = null;
        h.Store.Forgetter.BeforeCheck = () => whileForgetting = h.Store.CreateLink(alice, path, 0, TimeSpan.FromMinutes(5)).Url;
        h.Store.ForgetNode(StoreHarness.NodeA, force: false, live: true);

        Assert.StartsWith("http://127.0.0.1:2/", whileDraining, StringComparison.Ordinal);
        Assert.StartsWith("http://127.0.0.1:2/", whileForgetting, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Offline_forget_judges_liveness_as_of_the_newest_heartbeat_recorded_so_a_copy_on_a_node_that_ran_until_the_stop_counts()
    {
        // Arrange: A and B hold a file and heartbeated until the metadata node stopped; C went silent 10 minutes earlier.
        using var h = Harness();
        const string silent = "node-c";
        RegisterNode(h, silent, 3);
        var (alice, chunk) = await CommittedOnAAndBAsync(h, 1);
        h.Clock.Advance(TimeSpan.FromMinutes(10));
        h.Heartbeat();
        h.Store.Nodes.Heartbeat(NodeB, 0, 0);

        // Act: offline, with the wall clock long past every heartbeat.
        Exception? running = null;
        int forgotA = -1, forgotC = -1;
        h.Reopen(whileClosed: dir =>
        {
            running = Record.Exception(() => Offline(dir, "forget", StoreHarness.NodeA));
            forgotA = Offline(dir, "forget", StoreHarness.NodeA, "--live");
            forgotC = Offline(dir, "forget", silent, "--node-dead-after", "60");
        });

        // Assert: A ran until the stop, so it needs --live, and the message says offline cannot know more; with it, B
        // (live as of the stop) counts as the second copy: accepted. C, silent before the stop, needs no --live.
        var refused = Assert.IsType<DropboxException>(running);
        Assert.Equal(ErrorKind.Conflict, refused.Kind);
        Assert.Contains("when this metadata node stopped", refused.Message, StringComparison.Ordinal);
        Assert.Contains("not the value the metadata node ran with", refused.Message, StringComparison.Ordinal);
        Assert.Contains("--live", refused.Message, StringComparison.Ordinal);
        Assert.Equal((0, 0), (forgotA, forgotC));
        Assert.True(h.Store.Nodes.IsForgotten(StoreHarness.NodeA));
        Assert.True(h.Store.Nodes.IsForgotten(silent));
        Assert.Equal([NodeB], ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations);
    }

    [Fact]
    public async Task A_node_being_forgotten_is_not_healthy_so_its_copies_do_not_count_toward_the_factor_nor_let_a_draining_node_read_drained()
    {
        // Arrange: R=2; X on A and the draining node D; C can take copies.
        using var h = Harness();
        const string draining = "node-d";
        RegisterNode(h, draining, 4);
        var (alice, _) = h.Store.AddUser("alice");
        var x = StoreHarness.Chunk(5);
        await h.PutFileAsync(alice, "x", 0, x);
        ReportOn(h, draining, alice, x);
        ReportOn(h, NodeB, alice, x);
        h.Store.Nodes.SetDraining(draining, draining: true);
        var record = ChunkLedger.Read(h.Store.Engine, x.Id)!;
        Assert.Equal("drained", NodeReport.Build(h.Store).Of(h.Store.Nodes.All().Single(n => n.NodeId == draining)).State); // A and B count

        // Act: look while A is being forgotten.
        bool? healthy = null, under = null;
        string? drainState = null, forgetState = null;
        var targets = new List<ReplicaCopy>();
        h.Store.Forgetter.BeforeCheck = () =>
        {
            var states = h.Store.NodeStates();
            healthy = states.IsHealthy(StoreHarness.NodeA);
            under = ReplicationPlanner.IsUnderReplicated(record, states, 2);
            ReplicationPlanner.Plan(x.Id, record, states, 2, targets);
            var report = NodeReport.Build(h.Store);
            drainState = report.Of(h.Store.Nodes.All().Single(n => n.NodeId == draining)).State;
            forgetState = report.Of(h.Store.Nodes.All().Single(n => n.NodeId == StoreHarness.NodeA)).State;
        };
        h.Store.ForgetNode(StoreHarness.NodeA, force: false, live: true);

        // Assert: only B counts, so X is under-replicated, no copy goes to A, and D still drains.
        Assert.False(healthy);
        Assert.True(under);
        Assert.DoesNotContain(targets, c => c.Target.NodeId == StoreHarness.NodeA);
        Assert.Equal("draining", drainState);
        Assert.Equal("forgetting", forgetState);
    }

    [Fact]
    public async Task Forgetting_a_node_after_scrubs_quarantined_chunks_counts_each_lost_chunk_once_and_keeps_the_repairable_ones()
    {
        // Arrange: R=2, X and Y on A and B. B's scrub quarantines X (A holds its last intact copy); A's quarantines Y.
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var x = StoreHarness.Chunk(21);
        var y = StoreHarness.Chunk(22);
        await h.PutFileAsync(alice, "x", 0, x);
        await h.PutFileAsync(alice, "y", 0, y);
        ReportOn(h, NodeB, alice, x, y);
        Assert.Equal(1, h.Store.ReportChunksCorrupt(NodeB, [x.Id]).Repairable);
        Assert.Equal(1, h.Store.ReportChunksCorrupt(StoreHarness.NodeA, [y.Id]).Repairable);

        // Act + Assert: A holds the only copy of X (not of Y, which it no longer holds): refused naming one chunk.
        var refused = Assert.Throws<DropboxException>(() => h.Store.ForgetNode(StoreHarness.NodeA, force: false, live: true));
        Assert.Contains("holds the only copy of 1 referenced chunk", refused.Message, StringComparison.Ordinal);

        // Forced: X is lost, once; Y keeps its intact copy on B and is not counted at all.
        var forgotten = h.Store.ForgetNode(StoreHarness.NodeA, force: true, live: true);
        Assert.Equal((1L, 1L), (forgotten.LocationsCleared, forgotten.ChunksLost));
        Assert.Equal([x.Id], forgotten.LostChunks);
        Assert.Equal([NodeB], ChunkLedger.Read(h.Store.Engine, y.Id)!.Locations);
        Assert.Equal(y.Id, h.Store.GetDownloadPlan(alice, "y", 0).Chunks.Single().Chunk.Id);
        Assert.Equal(new HashSet<ulong> { h.Store.ListVersions(alice, "x")[0].Version }, h.Store.DamagedVersions(h.Store.ListVersions(alice, "x")));
        Assert.Empty(h.Store.DamagedVersions(h.Store.ListVersions(alice, "y")));

        // The check names X's loss once (the forget's note), not also as a damaged-version problem.
        var (problems, notes) = h.Store.CheckConsistencyWithNotes();
        Assert.Empty(problems);
        Assert.Contains("1 referenced chunk(s) were lost", Assert.Single(notes), StringComparison.Ordinal);

        // Y is re-replicated to a new node: R intact copies again; X's bytes uploaded again heal it.
        RegisterNode(h, "node-c", 3);
        var copies = new List<ReplicaCopy>();
        ReplicationPlanner.Plan(y.Id, ChunkLedger.Read(h.Store.Engine, y.Id)!, h.Store.NodeStates(), 2, copies);
        Assert.Equal("node-c", Assert.Single(copies).Target.NodeId);
        ReportOn(h, "node-c", alice, y, x);
        Assert.Equal(1, NodeReport.Build(h.Store).UnderReplicated); // only X, now on one node, is below R
        h.AssertConsistent();
    }

    private static int Offline(string data, params string[] args) =>
        NodesCommand.RunAsync(["nodes", .. args[..2], "--data", data, .. args[2..]], MetadataNodeCommandLine.ParseFlags).GetAwaiter().GetResult();
}
