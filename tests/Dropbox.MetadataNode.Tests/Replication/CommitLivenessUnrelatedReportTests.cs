using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Errors;
using static Dropbox.MetadataNode.Tests.Replication.ReplanHarness;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>
/// A commit after a replan away from a dead put node: another account's report during its event wait must not end the
/// wait (the nodes' answers ended the put by the old "may hold new copies" rule, then the commit, counting nodes live
/// when it arrived, refused). From a review.
/// </summary>
public sealed class CommitLivenessUnrelatedReportTests
{
    [Fact]
    public async Task An_unrelated_report_during_the_wait_does_not_end_a_commit_after_a_replan_away_from_a_dead_node()
    {
        using var h = Create(nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.FromSeconds(5));
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        var chunk = StoreHarness.Chunk(21);
        var upload = StoreHarness.Upload("f", 0, chunk);
        h.Store.PlanUpload(alice, upload);
        h.Stored(alice, chunk); // landed on a only

        h.Clock.Advance(TimeSpan.FromSeconds(40)); // a dead, not forgotten
        h.Store.Nodes.Heartbeat(NodeB, 0, 0);
        h.Store.Nodes.Heartbeat(NodeC, 0, 0);
        var plan = h.Store.PlanUpload(alice, upload);
        Assert.Equal(["0:node-b", "0:node-c"], Puts(plan, [chunk]));
        foreach (var put in plan.Missing)
        {
            h.Gateway.Put(put.Node.NodeId, put.ChunkId); // bytes there, events on the way
        }

        var waits = h.Store.EventWaits;
        var commit = h.Store.CommitAsync(alice, upload, CancellationToken.None);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (h.Store.EventWaits == waits && !commit.IsCompleted && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.False(commit.IsCompleted, "the commit did not wait");
        Report(h, bob, NodeB, StoreHarness.Chunk(99)); // someone else's put lands meanwhile
        await Task.Delay(500);
        foreach (var put in plan.Missing)
        {
            Report(h, alice, put.Node.NodeId, chunk);
        }

        var error = await Record.ExceptionAsync(() => commit);
        Assert.True(error is null, $"refused {(error as DropboxException)?.Kind}: {error?.Message}");
    }
}
