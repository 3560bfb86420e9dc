using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using static Dropbox.MetadataNode.Tests.Replication.ReplanHarness;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>
/// The collector's deletion of a chunk that waits for a node that is down (real RocksDB store, manual clock, the
/// nodes' gateway in memory). It used to keep the whole chunk "being deleted" until every node had answered: any
/// account's upload of the same content was refused as missing every round while the node stayed down, and it told
/// that account that someone else once stored the content. Each node's deletion is now done with on its own, and a node
/// the collector no longer has to delete from is trusted with the content again; a node it still has to delete from
/// never is, and its deletion is finished once it is back.
/// </summary>
public sealed class StuckDeletionTests
{
    [Fact]
    public async Task An_upload_commits_while_the_deletion_of_the_same_content_waits_for_a_dead_node()
    {
        // Act: bob put the content on b alone and never committed it; after the grace the collector began deleting it,
        // but b is dead (not forgotten). Alice then uploads the same content (plan, puts, commit, up to four times, as
        // her client does); and the same upload where nobody else ever stored it.
        var withBob = await AlicesRoundsAsync(bobsNodes: [NodeB]);
        var alone = await AlicesRoundsAsync(bobsNodes: []);

        // Assert: her upload commits, in the same rounds whatever bob did.
        Assert.Equal("2 puts, committed", alone);
        Assert.Equal(alone, withBob);
    }

    [Fact]
    public async Task A_node_that_finished_its_deletion_is_trusted_again_while_another_node_is_down()
    {
        // Act: bob's copies were on b and c; c deleted its copy, b is dead. Alice uploads the same content.
        var withBob = await AlicesRoundsAsync(bobsNodes: [NodeB, NodeC]);
        var alone = await AlicesRoundsAsync(bobsNodes: []);

        // Assert: as if nobody else had stored it (c's finished deletion is not held up by b's).
        Assert.Equal(alone, withBob);
    }

    [Fact]
    public async Task The_dead_nodes_deletion_is_finished_once_it_is_back_and_takes_nothing_counted()
    {
        // Arrange: bob's copy on b, its deletion stuck (b dead); alice's upload of the same content committed.
        using var h = Create(nodeTimeout: TimeSpan.FromSeconds(35));
        var chunk = StoreHarness.Chunk(16);
        await StickDeletionAsync(h, chunk, [NodeB]);
        var alice = await UploadAsync(h, "alice", chunk);
        var before = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        Assert.Equal([NodeB], before.DeletingLocations);

        // Act: b comes back; the collector runs.
        h.Gateway.Down.TryRemove(NodeB, out _);
        HeartbeatAll(h);
        await h.Store.RunGcOnceAsync(CancellationToken.None);

        // Assert: b's old copy is gone, alice's counted copies are all still held, nothing more is owed, and her file is
        // still whole.
        var after = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        Assert.False(h.Gateway.Holds(NodeB, chunk.Id), "b's copy from before the deletion should be deleted");
        Assert.Empty(after.DeletingLocations);
        Assert.Equal(ChunkState.Stored, after.State);
        Assert.Equal(1, after.Refcount);
        Assert.Equal(before.Locations.Order(), after.Locations.Order());
        Assert.All(after.Locations, n => Assert.True(h.Gateway.Holds(n, chunk.Id), $"{n} should still hold alice's copy"));
        Assert.NotEmpty(after.Locations);
        Assert.DoesNotContain(NodeB, after.Locations);
        var download = h.Store.GetDownloadPlan(alice, "f", 0);
        var source = Assert.Single(download.Chunks);
        Assert.Equal(chunk.Id, source.Chunk.Id);
        Assert.NotEmpty(source.Holders);
    }

    [Fact]
    public async Task A_chunk_stored_again_and_then_due_for_deletion_is_deleted_from_the_dead_node_too()
    {
        // Arrange: bob's copy on b, its deletion stuck (b dead); alice's upload of the same content committed, and then
        // no longer referenced (as when her file's last version is pruned) for longer than the grace.
        using var h = Create(nodeTimeout: TimeSpan.FromSeconds(35));
        var chunk = StoreHarness.Chunk(19);
        await StickDeletionAsync(h, chunk, [NodeB]);
        await UploadAsync(h, "alice", chunk);
        var alices = ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations.ToList();
        using (var batch = new RecordBatch(h.Store.Engine))
        {
            var record = batch.GetChunk(chunk.Id)!;
            record.Refcount = 0;
            record.ZeroSinceUnixMs = h.Clock.GetUtcNow().ToUnixTimeMilliseconds();
            batch.PutChunk(chunk.Id, record);
            batch.AddGcCandidate(chunk.Id);
            batch.Commit();
        }

        // Act: past the grace (b still down), the collector runs.
        h.Clock.Advance(h.Options.GcGracePeriod + TimeSpan.FromMinutes(1));
        h.Heartbeat();
        h.Store.Nodes.Heartbeat(NodeC, 0, 0);
        await h.Store.RunGcOnceAsync(CancellationToken.None);

        // Assert: alice's copies are deleted, and b's is still owed (not forgotten with the first deletion).
        var after = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        Assert.Equal($"Deleting; owed: node-b; alice's copies held: 0 of {alices.Count}",
            $"{after.State}; owed: {string.Join(",", after.DeletingLocations)}; alice's copies held: {alices.Count(n => h.Gateway.Holds(n, chunk.Id))} of {alices.Count}");
    }

    [Fact]
    public void A_node_still_to_delete_from_is_not_trusted_even_by_its_own_answer()
    {
        // Arrange: a stored, referenced chunk whose earlier copy on b is still to be deleted (b was down).
        using var h = Create();
        var id = StoreHarness.Chunk(17).Id;
        using (var batch = new RecordBatch(h.Store.Engine))
        {
            batch.PutChunk(id, new ChunkRecord { State = ChunkState.Stored, Refcount = 1, Size = 1000, StoredSize = 1000, Locations = { NodeC }, DeletingLocations = { NodeB } });
            batch.Commit();
        }

        // Act: b says it holds the chunk (its own answer to a check), then c does.
        bool fromB, fromC;
        using (var batch = new RecordBatch(h.Store.Engine))
        {
            fromB = ChunkLedger.MarkStored(batch, NodeB, id, 1000, ChunkEncoding.Raw, 1000, 0, verified: true);
            fromC = ChunkLedger.MarkStored(batch, NodeC, id, 1000, ChunkEncoding.Raw, 1000, 0, verified: true);
            batch.Commit();
        }

        // Assert: b is not a location (the collector will delete what it holds); b's deletion is still owed.
        var record = ChunkLedger.Read(h.Store.Engine, id)!;
        Assert.Equal("b trusted: False; c trusted: True; locations: node-c; deleting: node-b",
            $"b trusted: {fromB}; c trusted: {fromC}; locations: {string.Join(",", record.Locations)}; deleting: {string.Join(",", record.DeletingLocations)}");
    }

    [Fact]
    public async Task A_deletion_finished_on_some_nodes_only_is_counted_as_a_deletion_for_commits_that_asked_before_it()
    {
        // Arrange: bob's copies on b and c, b down: the collector deletes c's only.
        using var h = Create(nodeTimeout: TimeSpan.FromSeconds(35));
        var chunk = StoreHarness.Chunk(18);
        var before = h.Store.Transactions.ChunkDeletions;

        // Act
        await StickDeletionAsync(h, chunk, [NodeB, NodeC]);

        // Assert: a commit that asked the nodes before this round (c then said "held") does not trust that answer.
        Assert.True(h.Store.Transactions.ChunkDeletions > before, "c's finished deletion should count as a deletion");
        Assert.Equal([NodeB], ChunkLedger.Read(h.Store.Engine, chunk.Id)!.DeletingLocations);
        Assert.False(h.Gateway.Holds(NodeC, chunk.Id));
    }

    [Fact]
    public async Task A_forgotten_node_is_no_longer_remembered_as_one_whose_deletion_finished()
    {
        // Arrange: bob's copies on b and c; c's deletion finished (remembered), b's is owed.
        using var h = Create(nodeTimeout: TimeSpan.FromSeconds(35));
        var chunk = StoreHarness.Chunk(20);
        await StickDeletionAsync(h, chunk, [NodeB, NodeC]);
        Assert.Equal([NodeC], ChunkLedger.Read(h.Store.Engine, chunk.Id)!.DeletedFrom);

        // Act: c is forgotten (it holds nothing counted).
        h.Store.ForgetNode(NodeC, force: true, live: true);

        // Assert: the record names it nowhere.
        Assert.Empty(ChunkLedger.Read(h.Store.Engine, chunk.Id)!.DeletedFrom);
    }

    /// <summary>Alice's rounds (plan, every put lands, commit) until her commit goes through, at most four.</summary>
    private static async Task<string> AlicesRoundsAsync(string[] bobsNodes)
    {
        using var h = Create(nodeTimeout: TimeSpan.FromSeconds(35));
        var chunk = StoreHarness.Chunk(15);
        if (bobsNodes.Length > 0)
        {
            await StickDeletionAsync(h, chunk, bobsNodes);
        }

        var (alice, _) = h.Store.AddUser("alice");
        var rounds = new List<string>();
        for (var round = 0; round < 4; round++)
        {
            var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk));
            PutAll(h, alice, plan, [chunk]);
            var commit = await Record.ExceptionAsync(() => h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, chunk), CancellationToken.None));
            rounds.Add($"{plan.Missing.Count} puts, {(commit is null ? "committed" : commit is DropboxException e ? e.Kind.ToString() : commit.GetType().Name)}");
            if (commit is null)
            {
                break;
            }
        }

        return string.Join("; ", rounds);
    }

    private static async Task<UserInfo> UploadAsync(StoreHarness h, string name, ChunkRef chunk)
    {
        var (user, _) = h.Store.AddUser(name);
        var plan = h.Store.PlanUpload(user, StoreHarness.Upload("f", 0, chunk));
        PutAll(h, user, plan, [chunk]);
        await h.Store.CommitAsync(user, StoreHarness.Upload("f", 0, chunk), CancellationToken.None);
        return user;
    }
}
