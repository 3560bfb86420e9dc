using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Domain.Replication;
using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Tests.Infrastructure;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary><c>nodes list</c> says why each node is in its state, the restart fence's end included.</summary>
public sealed class NodeListReasonTests
{
    [Fact]
    public async Task Nodes_list_names_since_when_a_node_is_dead_what_a_drain_waits_for_until_the_restart_fence_ends_a_full_node_and_a_forgotten_one()
    {
        // Arrange: R=2; X on A and B; C goes silent at 00:00; B drains; the metadata node restarts at 00:02.
        using var h = new StoreHarness(o => o with { NodeTimeout = TimeSpan.FromMinutes(1), ReplicationFactor = 2 });
        h.Store.Nodes.Register(new NodeRegistration("node-b", "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0));
        h.Store.Nodes.Register(new NodeRegistration("node-c", "http://127.0.0.1:3", "http://127.0.0.1:3", 0, 0));
        var (alice, _) = h.Store.AddUser("alice");
        var x = StoreHarness.Chunk(1);
        await h.PutFileAsync(alice, "x", 0, x);
        h.Store.ReportChunksStored("node-b", [new StoredChunkReport(x.Id, (uint)x.Size, x.Encoding, (uint)x.StoredSize, string.Empty)]);
        h.Store.Nodes.SetDraining("node-b", draining: true);
        h.Clock.Advance(TimeSpan.FromMinutes(2));
        h.Reopen();
        var restartedAt = h.Clock.GetUtcNow();
        h.Store.Nodes.Heartbeat(StoreHarness.NodeA, 0, 0, full: true);
        h.Store.Nodes.Heartbeat("node-b", 0, 0);

        // Act
        var reasons = Reasons(h);

        // Assert
        Assert.Contains("no heartbeat since 2026-01-01 00:00:00Z (120 s; dead after 60 s", reasons["node-c"], StringComparison.Ordinal);
        var fenceEnd = restartedAt + h.Options.TokenLifetime + h.Options.EventWait;
        Assert.Equal(fenceEnd, h.Store.Nodes.RestartFenceUntil("node-b"));
        Assert.StartsWith("draining; waits for 1 chunk(s) on it to copy to other nodes", reasons["node-b"], StringComparison.Ordinal);
        Assert.Contains($"before the metadata node restarted, usable until {fenceEnd:u}", reasons["node-b"], StringComparison.Ordinal);
        Assert.StartsWith("full:", reasons[StoreHarness.NodeA], StringComparison.Ordinal);

        // Act: the fence ends; a new node D takes a copy of X; the silent C is forgotten.
        h.Clock.Advance(h.Options.TokenLifetime + h.Options.EventWait + TimeSpan.FromSeconds(1));
        h.Store.Nodes.Heartbeat(StoreHarness.NodeA, 0, 0);
        h.Store.Nodes.Heartbeat("node-b", 0, 0);
        h.Store.Nodes.Register(new NodeRegistration("node-d", "http://127.0.0.1:4", "http://127.0.0.1:4", 0, 0));
        h.Store.ReportChunksStored("node-d", [new StoredChunkReport(x.Id, (uint)x.Size, x.Encoding, (uint)x.StoredSize, string.Empty)]);
        h.Store.ForgetNode("node-c", force: false, live: false);
        reasons = Reasons(h);

        // Assert: the fence is gone, B is drained, A no longer full, C forgotten with its time.
        Assert.Null(h.Store.Nodes.RestartFenceUntil("node-b"));
        Assert.StartsWith("drained:", reasons["node-b"], StringComparison.Ordinal);
        Assert.Equal("", reasons[StoreHarness.NodeA]);
        var forgotten = AdminMapping.ToProto(Assert.Single(h.Store.Nodes.Forgotten()));
        Assert.Equal(("node-c", "forgotten"), (forgotten.NodeId, forgotten.State));
        Assert.StartsWith($"forgotten ('nodes forget') at {h.Clock.GetUtcNow():u}", forgotten.Reason, StringComparison.Ordinal);
    }

    private static Dictionary<string, string> Reasons(StoreHarness h)
    {
        var report = NodeReport.Build(h.Store);
        return report.States.All.ToDictionary(n => n.NodeId, n => AdminMapping.ToProto(n, report, h.Store.Nodes.RestartFenceUntil(n.NodeId)).Reason, StringComparer.Ordinal);
    }
}
