using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary><c>nodes forget</c> on a real store: refusal while a node holds a sole copy, --force naming the loss, no resurrection.</summary>
public sealed class ForgetNodeTests
{
    private const string NodeB = "node-b";
    private static readonly TimeSpan Grace = TimeSpan.FromHours(1);

    private static StoreHarness Harness()
    {
        var h = new StoreHarness(o => o with { NodeTimeout = TimeSpan.FromDays(365), GcGracePeriod = Grace, ReplicationFactor = 2 });
        h.Store.Nodes.Register(new NodeRegistration(NodeB, "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0));
        return h;
    }

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
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(1);
        await h.PutFileAsync(alice, "f", 0, chunk);
        ReportOn(h, NodeB, alice, chunk);
        h.Store.ForgetNode(StoreHarness.NodeA, force: false, live: true);
        h.Reopen();

        var register = Assert.Throws<DropboxException>(() => h.Store.Nodes.Register(new NodeRegistration(StoreHarness.NodeA, "http://127.0.0.1:1", "http://127.0.0.1:1", 0, 0)));
        Assert.Equal(ErrorKind.Conflict, register.Kind);
        Assert.Contains("new --node-id", register.Message, StringComparison.Ordinal);
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
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(1);
        await h.PutFileAsync(alice, "f", 0, chunk);
        ReportOn(h, NodeB, alice, chunk);

        // The state a crash leaves between the two steps: the node gone and forgotten, its locations still recorded.
        using (var batch = new RecordBatch(h.Store.Engine))
        {
            batch.DeleteNode(StoreHarness.NodeA);
            batch.PutForgottenNode(new ForgottenNodeRecord { NodeId = StoreHarness.NodeA });
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

    private static void ReportOn(StoreHarness h, string node, UserInfo user, params ChunkRef[] chunks)
    {
        var report = new ReportChunksStoredRequest { NodeId = node };
        foreach (var c in chunks)
        {
            h.Gateway.Put(node, c.Id);
            report.Chunks.Add(new StoredChunk { ChunkId = c.Id.ToByteString(), Size = (uint)c.Size, Encoding = Proto.ChunkEncoding.Raw, StoredSize = (uint)c.StoredSize, NamespaceId = user.Namespace.Value });
        }

        h.Store.ReportChunksStored(report);
    }
}
