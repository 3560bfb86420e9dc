using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using static Dropbox.MetadataNode.Tests.Replication.ReplanHarness;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>
/// Which of an upload's own put nodes a commit counts: those live when it judges, the same for its check and for its
/// wait for the puts' "stored" events (a wait counting a node the check does not ended early, and the commit was refused
/// though the puts a replan asked had landed). A heartbeat is heard without waiting for the writer, so a node that
/// heartbeats all through a long wait is live at the check (see <see cref="HeartbeatWhileWriterHeldTests"/>).
/// </summary>
public sealed class CommitLivenessTests
{
    [Fact]
    public async Task A_commit_counts_a_put_node_that_heartbeats_all_through_its_wait_for_the_events()
    {
        // Arrange: alice's plan puts the chunk on two live nodes; the bytes land, their events are on the way.
        using var h = Create(nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.FromSeconds(120));
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(31);
        var upload = StoreHarness.Upload("f", 0, chunk);
        var plan = h.Store.PlanUpload(alice, upload);
        Assert.Equal(2, plan.Missing.Count);
        foreach (var put in plan.Missing)
        {
            h.Gateway.Put(put.Node.NodeId, put.ChunkId);
        }

        // Act: the commit waits for the events; meanwhile more than the dead-after time passes, every node heartbeating
        // each 10 s (heard at once, never behind the writer), then the events come.
        var waits = h.Store.EventWaits;
        var commit = h.Store.CommitAsync(alice, upload, CancellationToken.None);
        await WaitUntilAsync(() => h.Store.EventWaits > waits || commit.IsCompleted);
        Assert.False(commit.IsCompleted, "the commit did not wait for its events");
        for (var round = 0; round < 4; round++)
        {
            h.Clock.Advance(TimeSpan.FromSeconds(10));
            h.Heartbeat();
            h.Store.Nodes.Heartbeat(NodeB, 0, 0);
            h.Store.Nodes.Heartbeat(NodeC, 0, 0);
        }

        PutAll(h, alice, plan, [chunk]);

        // Assert: committed, with both copies: the nodes are live when its check runs.
        var error = await Record.ExceptionAsync(() => commit);
        Assert.True(error is null, $"refused: {error?.Message}");
        Assert.Equal(2, ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations.Count);
    }

    [Fact]
    public async Task A_commit_after_a_replan_away_from_a_dead_node_waits_for_the_new_puts_events_as_a_first_upload_does()
    {
        // Act: the same upload (plan on b and c, both puts land, their events come a moment after the commit began),
        // once as a first upload and once after an earlier put of the chunk landed on a only and a was then declared dead
        // (the CI case, after --node-dead-after; a not forgotten).
        var first = await CommitWithEventsLateAsync(earlierPutOnA: false);
        var afterDeadNode = await CommitWithEventsLateAsync(earlierPutOnA: true);

        // Assert: both commit. Counting a (it may hold new copies) the wait ended at once, the check (live nodes only)
        // did not count a, and b and c were not among alice's put nodes yet: refused as missing.
        Assert.Equal("first upload: committed; after a put on a dead node: committed", $"first upload: {first}; after a put on a dead node: {afterDeadNode}");
    }

    /// <summary>Plans on b and c with a dead, puts there, commits; the events of those puts come once the commit waits (or has answered).</summary>
    private static async Task<string> CommitWithEventsLateAsync(bool earlierPutOnA)
    {
        using var h = Create(nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.FromSeconds(5));
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(21);
        var upload = StoreHarness.Upload("f", 0, chunk);
        if (earlierPutOnA)
        {
            h.Store.PlanUpload(alice, upload);
            h.Stored(alice, chunk); // landed on a; the second replica's put was cut off
        }

        h.Clock.Advance(TimeSpan.FromSeconds(40)); // a killed: silent past --node-dead-after; b and c heartbeat
        h.Store.Nodes.Heartbeat(NodeB, 0, 0);
        h.Store.Nodes.Heartbeat(NodeC, 0, 0);
        var plan = h.Store.PlanUpload(alice, upload);
        Assert.Equal(["0:node-b", "0:node-c"], Puts(plan, [chunk]));
        foreach (var put in plan.Missing)
        {
            h.Gateway.Put(put.Node.NodeId, put.ChunkId); // the bytes are there; the events are on their way
        }

        var waits = h.Store.EventWaits;
        var commit = h.Store.CommitAsync(alice, upload, CancellationToken.None);
        await WaitUntilAsync(() => h.Store.EventWaits > waits || commit.IsCompleted);
        foreach (var put in plan.Missing)
        {
            Report(h, alice, put.Node.NodeId, chunk);
        }

        var error = await Record.ExceptionAsync(() => commit);
        return error is null ? "committed" : $"refused {(error as DropboxException)?.Kind}";
    }

    /// <summary>Waits (real time, at most 10 s) for the commit to reach its event wait or answer.</summary>
    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
    }
}
