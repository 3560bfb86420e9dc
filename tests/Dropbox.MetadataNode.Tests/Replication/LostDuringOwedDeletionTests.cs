using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using static Dropbox.MetadataNode.Tests.Replication.ReplanHarness;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>
/// A referenced chunk whose last counted copy is reported corrupt after a collector pass chose to finish a node's owed
/// deletion of it (phase 1) and before it asks the node (phase 2): the owed node's bytes are then the last intact ones.
/// Phase 1 gives such deletions up for a chunk already lost; the pass now checks again, under the lock, right before it
/// asks each node (GcWakeReviewTests has the same window opened by an earlier node's delete). The window is widest while an online backup holds deletions (the pass waits there after phase 1),
/// which is how the test opens it. Real RocksDB store, manual clock, in-memory gateway.
/// </summary>
public sealed class LostDuringOwedDeletionTests
{
    [Fact]
    public async Task A_chunk_lost_while_the_pass_waits_to_finish_an_owed_deletion_keeps_the_owed_nodes_bytes()
    {
        // Arrange: one copy per chunk. Bob's copy on b, its deletion stuck (b down); alice's upload of the same content
        // commits with its one copy elsewhere. b is back, still holding bob's (intact) bytes. A backup holds deletions
        // while the collector runs: the pass has chosen b's owed deletion and waits to send it.
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var chunk = StoreHarness.Chunk(7788);
        await StickDeletionAsync(h, chunk, [NodeB]);
        var holder = await AliceCommitsAsync(h, chunk);
        h.Gateway.Down.TryRemove(NodeB, out _);
        for (var i = 0; i < 4; i++)
        {
            h.Clock.Advance(TimeSpan.FromSeconds(20)); // past the window in which b's failed delete may still land
            HeartbeatAll(h);
        }

        var hold = await h.Store.ChunkDeletions.HoldAsync(CancellationToken.None);
        var gc = h.Store.RunGcOnceAsync(CancellationToken.None);
        await UntilAsync(() => h.Store.ChunkDeletions.WaitingDeletes == 1 || gc.IsCompleted);
        Assert.False(gc.IsCompleted, "the pass should wait for the backup's hold");

        // Act: alice's copy is found corrupt (the chunk is lost: no counted copy left); then the backup ends.
        h.Gateway.Remove(holder, chunk.Id);
        h.Store.ReportChunksCorrupt(holder, [chunk.Id]);
        Assert.True(ChunkLedger.IsLost(ChunkLedger.Read(h.Store.Engine, chunk.Id)));
        hold.Dispose();
        await gc.WaitAsync(TimeSpan.FromSeconds(30));

        // Assert: b's bytes, the last intact ones of alice's file, are kept; its deletion is given up and b is an
        // unconfirmed location (its own answer to a commit's check lists it again, as when phase 1 finds the chunk lost).
        var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        Assert.Equal("b holds True; owed ; unconfirmed node-b; candidate False",
            $"b holds {h.Gateway.Holds(NodeB, chunk.Id)}; owed {string.Join(",", record.DeletingLocations)}; unconfirmed {string.Join(",", record.UnconfirmedLocations)}; candidate {h.Store.Engine.ScanAll(h.Store.Engine.Gc).Any(kv => new ChunkId(kv.Item1) == chunk.Id)}");
        Assert.All(h.Store.CheckConsistency(), p => Assert.StartsWith("damaged: version 1 of 'f'", p)); // lost until healed, nothing else
    }

    [Fact]
    public async Task An_owed_deletion_of_a_chunk_that_still_has_an_intact_copy_is_finished_after_the_hold()
    {
        // Arrange: as above, but nothing is reported corrupt while the pass waits.
        using var h = Create(replicationFactor: 1, nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.Zero);
        var chunk = StoreHarness.Chunk(7789);
        await StickDeletionAsync(h, chunk, [NodeB]);
        var holder = await AliceCommitsAsync(h, chunk);
        h.Gateway.Down.TryRemove(NodeB, out _);
        HeartbeatAll(h);
        var hold = await h.Store.ChunkDeletions.HoldAsync(CancellationToken.None);
        var gc = h.Store.RunGcOnceAsync(CancellationToken.None);
        await UntilAsync(() => h.Store.ChunkDeletions.WaitingDeletes == 1 || gc.IsCompleted);

        // Act
        hold.Dispose();
        await gc.WaitAsync(TimeSpan.FromSeconds(30));

        // Assert: b's old copy is deleted, alice's kept.
        var record = ChunkLedger.Read(h.Store.Engine, chunk.Id)!;
        Assert.Equal($"b holds False; owed ; locations {holder}; held True",
            $"b holds {h.Gateway.Holds(NodeB, chunk.Id)}; owed {string.Join(",", record.DeletingLocations)}; locations {string.Join(",", record.Locations)}; held {h.Gateway.Holds(holder, chunk.Id)}");
    }

    /// <summary>Alice's upload of the content (plan, puts, commit; up to four rounds); returns the node holding her one copy.</summary>
    private static async Task<string> AliceCommitsAsync(StoreHarness h, ChunkRef chunk)
    {
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
        var holder = Assert.Single(ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations);
        Assert.NotEqual(NodeB, holder);
        return holder;
    }

    private static async Task UntilAsync(Func<bool> condition)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition() && DateTime.UtcNow < until)
        {
            await Task.Delay(10);
        }
    }
}
