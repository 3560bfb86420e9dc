using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Errors;
using static Dropbox.MetadataNode.Tests.Replication.ReplanHarness;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>
/// Liveness while a long write holds the writer (real RocksDB store, manual clock, dead after 35 s): the writer is held
/// inside a real "stored" report's write (blocked under the write lock, as a 100,000-chunk report or commit holds it)
/// while 40 s pass. Stored through the writer only, a heartbeat waited behind it: the node read dead though it was
/// heartbeating all along, and a commit arriving then was refused its copies there; judged as of its arrival instead, a
/// commit counted a copy on a node that died while it waited.
/// </summary>
public sealed class HeartbeatWhileWriterHeldTests
{
    private static readonly string[] AllNodes = [StoreHarness.NodeA, NodeB, NodeC];

    [Fact]
    public async Task A_node_heartbeating_while_a_long_write_holds_the_writer_stays_live_and_a_commit_arriving_then_counts_its_copies()
    {
        // Arrange: alice's upload landed on the two nodes of her plan, their reports recorded.
        using var h = Create(nodeTimeout: TimeSpan.FromSeconds(35));
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        var chunk = StoreHarness.Chunk(41);
        var upload = StoreHarness.Upload("f", 0, chunk);
        var plan = h.Store.PlanUpload(alice, upload);
        PutAll(h, alice, plan, [chunk]);

        // Act: a long write holds the writer while 40 s pass, every node heartbeating each 10 s; then alice commits
        // (her check runs once the write is done).
        using var hold = await WriterHold.StartAsync(h, () => Report(h, bob, NodeC, StoreHarness.Chunk(99)));
        var answered = 0;
        for (var round = 0; round < 4; round++)
        {
            h.Clock.Advance(TimeSpan.FromSeconds(10));
            answered += await HeartbeatAsync(h, hold, AllNodes);
        }

        var live = string.Join(",", h.Store.Nodes.LiveNodes().Select(n => n.NodeId).Order(StringComparer.Ordinal));
        var replication = string.Join(",", AllNodes.Where(n => h.Store.NodeStates().Live(n) is not null));
        var commit = h.Store.CommitAsync(alice, upload, CancellationToken.None);
        await hold.ReleaseAsync();
        var outcome = await OutcomeAsync(commit);

        // Assert
        Assert.Equal(
            "heartbeats answered during the hold: 12; live after 40 s of it: node-a,node-b,node-c; to replication: node-a,node-b,node-c; commit arriving then: committed",
            $"heartbeats answered during the hold: {answered}; live after 40 s of it: {live}; to replication: {replication}; commit arriving then: {outcome}");
    }

    [Fact]
    public async Task A_node_that_stops_heartbeating_while_a_commit_waits_for_the_writer_reads_dead_and_its_copy_does_not_count()
    {
        // Arrange: alice's chunk landed on node a only.
        using var h = Create(nodeTimeout: TimeSpan.FromSeconds(35));
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        var chunk = StoreHarness.Chunk(42);
        var upload = StoreHarness.Upload("f", 0, chunk);
        h.Store.PlanUpload(alice, upload);
        h.Stored(alice, chunk);

        // Act: a long write holds the writer; alice's commit arrives while every node is live and waits for it; 40 s
        // pass, b and c heartbeating, a silent (killed).
        using var hold = await WriterHold.StartAsync(h, () => Report(h, bob, NodeC, StoreHarness.Chunk(99)));
        var commit = h.Store.CommitAsync(alice, upload, CancellationToken.None);
        for (var round = 0; round < 4; round++)
        {
            h.Clock.Advance(TimeSpan.FromSeconds(10));
            await HeartbeatAsync(h, hold, NodeB, NodeC);
        }

        var live = string.Join(",", h.Store.Nodes.LiveNodes().Select(n => n.NodeId).Order(StringComparer.Ordinal));
        await hold.ReleaseAsync();
        var outcome = await OutcomeAsync(commit);

        // Assert: a is dead, and the commit, judged when its check runs, does not count the file's only copy there.
        Assert.Equal(
            "live after 40 s of the hold: node-b,node-c; commit of a copy on node-a only: refused NotFound",
            $"live after 40 s of the hold: {live}; commit of a copy on node-a only: {outcome}");
    }

    [Fact]
    public async Task A_heartbeat_heard_while_a_drain_waits_for_the_writer_is_stored_after_it_keeping_the_drain()
    {
        // Arrange
        using var h = Create(nodeTimeout: TimeSpan.FromSeconds(35));
        var (bob, _) = h.Store.AddUser("bob");
        using var hold = await WriterHold.StartAsync(h, () => Report(h, bob, NodeC, StoreHarness.Chunk(99)));

        // Act: a drain of a waits for the writer (holding the registry's update lock); a heartbeats meanwhile.
        var draining = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Store.Nodes.BeforeSave = () => draining.TrySetResult();
        var drain = Task.Run(() => h.Store.Nodes.SetDraining(StoreHarness.NodeA, true));
        await draining.Task.WaitAsync(TimeSpan.FromSeconds(10));
        h.Clock.Advance(TimeSpan.FromSeconds(10));
        var heartbeatAt = h.Clock.GetUtcNow().ToUnixTimeMilliseconds();
        var calls = hold.Track([Task.Run(() => h.Store.Nodes.Heartbeat(StoreHarness.NodeA, usedBytes: 77, chunkCount: 5, full: true))]);
        var answered = await AnsweredAsync(calls);
        var heard = h.Store.Nodes.Require(StoreHarness.NodeA);
        await hold.ReleaseAsync();
        await drain.WaitAsync(TimeSpan.FromSeconds(30));
        h.Reopen(); // the writer's queue is run before the store closes: what it stored is what a restart finds
        var stored = h.Store.Nodes.Require(StoreHarness.NodeA);

        // Assert: answered at once, heard at once; stored after the drain, on top of it.
        Assert.Equal(
            $"answered: 1; heard: {heartbeatAt} 77 full; stored: {heartbeatAt} 77 full draining",
            $"answered: {answered}; heard: {heard.LastHeartbeatUnixMs} {heard.UsedBytes}{(heard.Full ? " full" : "")}; "
            + $"stored: {stored.LastHeartbeatUnixMs} {stored.UsedBytes}{(stored.Full ? " full" : "")}{(stored.Draining ? " draining" : "")}");
    }

    /// <summary>Heartbeats from each node at once; how many were answered within 2 s (a heartbeat never waits for the writer).</summary>
    private static Task<int> HeartbeatAsync(StoreHarness h, WriterHold hold, params string[] nodes) =>
        AnsweredAsync(hold.Track(nodes.Select(n => Task.Run(() => h.Store.Nodes.Heartbeat(n, 0, 0))).ToArray()));

    private static async Task<int> AnsweredAsync(Task[] calls)
    {
        try
        {
            await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(2));
        }
        catch (TimeoutException)
        {
            // counted below: those still waiting were not answered
        }

        return calls.Count(c => c.IsCompletedSuccessfully);
    }

    private static async Task<string> OutcomeAsync(Task commit)
    {
        var error = await Record.ExceptionAsync(() => commit.WaitAsync(TimeSpan.FromSeconds(30)));
        return error is null ? "committed" : $"refused {(error as DropboxException)?.Kind}";
    }
}
