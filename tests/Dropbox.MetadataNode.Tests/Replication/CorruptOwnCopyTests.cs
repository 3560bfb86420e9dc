using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using static Dropbox.MetadataNode.Tests.Replication.ReplanHarness;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>
/// A node's corrupt report ends an account's own copy there (<see cref="CorruptOwnCopies"/>): its plans ask for the copy
/// again and its commits do not count the node, whoever put the content there since, and a commit after a replan away
/// from that node waits for the new puts' events.
/// </summary>
public sealed class CorruptOwnCopyTests
{
    [Fact]
    public void After_a_node_reported_alices_copy_corrupt_her_plan_asks_for_it_again_whether_or_not_bob_put_the_content_there_since()
    {
        // Act: alice's puts landed on a and b; b's scrub found the copy corrupt; then bob's put of the same content
        // landed on b, or nobody's did.
        var withBob = AlicesPlanAfterCorruptOnB(bobPutsOnB: true);
        var alone = AlicesPlanAfterCorruptOnB(bobPutsOnB: false);

        // Assert: the same plan either way: one put, not on a (her copy there still counts), and once it lands she is
        // told "held" and commits.
        Assert.Equal(alone, withBob);
        Assert.Equal("1 put(s), none on a; then 0 put(s); committed", alone);
    }

    [Fact]
    public async Task Alices_commit_of_a_chunk_whose_only_own_copy_was_reported_corrupt_is_refused_whether_or_not_bob_put_the_content_there_since()
    {
        // Act: alice's put landed on a only; a's scrub found it corrupt; then bob put and committed the same content on
        // a, or nobody did.
        var withBob = await AlicesCommitAfterCorruptAsync(bobPutsOnA: true);
        var alone = await AlicesCommitAfterCorruptAsync(bobPutsOnA: false);

        // Assert: the same refusal, calls, waits and next plan either way; her commit goes through once her puts land.
        Assert.Equal(alone, withBob);
        Assert.StartsWith("NotFound", alone, StringComparison.Ordinal);
        Assert.EndsWith("then committed", alone, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_commit_after_a_replan_away_from_a_node_that_reported_the_copy_corrupt_waits_for_the_new_puts_events()
    {
        // Arrange: alice's put landed on a only; a reported it corrupt (quarantined) and is full now, so her next plan
        // puts on b and c. Her puts land there; their events are on the way. (Review pn50b's probe, 07dbd0b.)
        using var h = Create(nodeTimeout: TimeSpan.FromSeconds(35), eventWait: TimeSpan.FromSeconds(30));
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(21);
        var upload = StoreHarness.Upload("f", 0, chunk);
        h.Store.PlanUpload(alice, upload);
        h.Stored(alice, chunk);
        h.Store.ReportChunksCorrupt(StoreHarness.NodeA, [chunk.Id]);
        h.Gateway.Remove(StoreHarness.NodeA, chunk.Id);
        h.Store.Nodes.Heartbeat(StoreHarness.NodeA, 0, 0, full: true);
        var plan = h.Store.PlanUpload(alice, upload);
        Assert.Equal(["0:node-b", "0:node-c"], Puts(plan, [chunk]));
        foreach (var put in plan.Missing)
        {
            h.Gateway.Put(put.Node.NodeId, put.ChunkId);
        }

        // Act: she commits; the events come while the commit waits for them.
        var waits = h.Store.EventWaits;
        var commit = h.Store.CommitAsync(alice, upload, CancellationToken.None);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (h.Store.EventWaits == waits && !commit.IsCompleted && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        PutAll(h, alice, plan, [chunk]);
        var outcome = await Record.ExceptionAsync(() => commit);

        // Assert: committed after one wait. Her mark named a, live, so the wait used to end at once and the check
        // (which needs a location on one of her put nodes, and a's was dropped) refused it as missing.
        Assert.Equal("committed after 1 wait(s)", $"{(outcome is null ? "committed" : $"refused {(outcome as DropboxException)?.Kind}")} after {h.Store.EventWaits - waits} wait(s)");
        h.AssertConsistent();
    }

    [Theory]
    [InlineData(CorruptOwnCopies.PointReadLimit)]
    [InlineData(0L)]
    public void A_corrupt_report_drops_the_node_from_the_marks_of_that_chunk_only_by_point_reads_or_by_one_scan(long pointReadLimit)
    {
        // Arrange: alice and bob put chunk x on a and b; carol put it on b only; alice put chunk y on a.
        using var h = Create();
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        var (carol, _) = h.Store.AddUser("carol");
        var (x, y) = (StoreHarness.Chunk(41), StoreHarness.Chunk(42));
        Report(h, alice, StoreHarness.NodeA, x, y);
        Report(h, alice, NodeB, x);
        Report(h, bob, StoreHarness.NodeA, x);
        Report(h, bob, NodeB, x);
        Report(h, carol, NodeB, x);
        string[] namespaces = [alice.Namespace.Value, bob.Namespace.Value, carol.Namespace.Value];

        // Act: a reported x corrupt.
        var changed = h.Store.Transactions.Mutate(null, (batch, _) => CorruptOwnCopies.Drop(batch, StoreHarness.NodeA, CorruptOwnCopies.Find(h.Store.Engine, namespaces, StoreHarness.NodeA, [x.Id], pointReadLimit)));

        // Assert: alice's and bob's marks of x lost a; carol's mark of x and alice's of y are as they were.
        Assert.Equal(2, changed);
        Assert.Equal(
            "alice x: node-b; bob x: node-b; carol x: node-b; alice y: node-a",
            $"alice x: {Nodes(h, alice, x)}; bob x: {Nodes(h, bob, x)}; carol x: {Nodes(h, carol, x)}; alice y: {Nodes(h, alice, y)}");
    }

    [Fact]
    public void The_marks_found_outside_the_write_lock_are_changed_as_they_are_when_the_report_is_written()
    {
        // The marks are found before the report's transaction (reading every account's marks of a failed disk's
        // 100,000 chunks under the write lock held every commit, event and heartbeat behind it for seconds), so what
        // is written must be the mark as it is then. Arrange: alice and bob put x on a and b; both marks found.
        using var h = Create();
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        var x = StoreHarness.Chunk(43);
        Report(h, alice, StoreHarness.NodeA, x);
        Report(h, alice, NodeB, x);
        Report(h, bob, StoreHarness.NodeA, x);
        var found = CorruptOwnCopies.Find(h.Store.Engine, [alice.Namespace.Value, bob.Namespace.Value], StoreHarness.NodeA, [x.Id]);
        Assert.Equal(2, found.Count);

        // Act: before the report is written, bob's mark goes (as a commit or the collector ends it).
        h.Store.Transactions.Mutate(null, (batch, _) =>
        {
            batch.PutNamespaceChunk(bob.Namespace.Value, x.Id, null);
            return 0;
        });
        var changed = h.Store.Transactions.Mutate(null, (batch, _) => CorruptOwnCopies.Drop(batch, StoreHarness.NodeA, found));

        // Assert: alice's mark lost a and kept b; bob's mark is not written back.
        Assert.Equal(1, changed);
        Assert.Equal("node-b", Nodes(h, alice, x));
        Assert.Null(h.Store.Transactions.Mutate(null, (batch, _) => batch.GetNamespaceChunk(bob.Namespace.Value, x.Id)));
    }

    /// <summary>The own put nodes of the user's mark of the chunk, as committed.</summary>
    private static string Nodes(StoreHarness h, UserInfo user, ChunkRef chunk) =>
        string.Join(",", h.Store.Transactions.Mutate(null, (batch, _) => batch.GetNamespaceChunk(user.Namespace.Value, chunk.Id)!.UploadedOn.ToList()));

    /// <summary>Alice's plan once b reported her copy corrupt (and bob's put landed there, or not), then her put of it and her commit.</summary>
    private static string AlicesPlanAfterCorruptOnB(bool bobPutsOnB)
    {
        using var h = Create();
        var (alice, _) = h.Store.AddUser("alice");
        var chunks = new[] { StoreHarness.Chunk(31) };
        var upload = StoreHarness.Upload("f", 0, chunks);
        h.Store.PlanUpload(alice, upload);
        h.Stored(alice, chunks);
        Report(h, alice, NodeB, chunks);
        Assert.Empty(h.Store.PlanUpload(alice, upload).Missing);

        h.Store.ReportChunksCorrupt(NodeB, [chunks[0].Id]);
        h.Gateway.Remove(NodeB, chunks[0].Id);
        if (bobPutsOnB)
        {
            var (bob, _) = h.Store.AddUser("bob");
            h.Store.PlanUpload(bob, StoreHarness.Upload("b", 0, chunks));
            Report(h, bob, NodeB, chunks);
        }

        var plan = h.Store.PlanUpload(alice, upload);
        PutAll(h, alice, plan, chunks);
        var after = h.Store.PlanUpload(alice, upload);
        var commit = Record.Exception(() => h.Store.CommitAsync(alice, upload, CancellationToken.None).GetAwaiter().GetResult());
        h.AssertConsistent();
        var onA = plan.Missing.Any(p => p.Node.NodeId == StoreHarness.NodeA) ? "one on a" : "none on a";
        return $"{plan.Missing.Count} put(s), {onA}; then {after.Missing.Count} put(s); {(commit is null ? "committed" : commit.Message)}";
    }

    /// <summary>
    /// Alice's commit once a reported her only copy corrupt (and bob put and committed the content there, or not): its
    /// outcome, the calls to the nodes, the waits, her next plan, and whether a commit after its puts goes through.
    /// </summary>
    private static async Task<string> AlicesCommitAfterCorruptAsync(bool bobPutsOnA)
    {
        using var h = Create();
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(32);
        var upload = StoreHarness.Upload("a", 0, chunk);
        h.Store.PlanUpload(alice, upload);
        h.Stored(alice, chunk);
        h.Store.ReportChunksCorrupt(StoreHarness.NodeA, [chunk.Id]);
        h.Gateway.Remove(StoreHarness.NodeA, chunk.Id);
        if (bobPutsOnA)
        {
            var (bob, _) = h.Store.AddUser("bob");
            h.Store.PlanUpload(bob, StoreHarness.Upload("b", 0, chunk));
            Report(h, bob, StoreHarness.NodeA, chunk);
            await h.Store.CommitAsync(bob, StoreHarness.Upload("b", 0, chunk), CancellationToken.None);
        }

        var (calls, waits) = (h.Gateway.HasCalls, h.Store.EventWaits);
        var refused = await Record.ExceptionAsync(() => h.Store.CommitAsync(alice, upload, CancellationToken.None));
        var (called, waited) = (h.Gateway.HasCalls - calls, h.Store.EventWaits - waits);
        var next = h.Store.PlanUpload(alice, upload);
        PutAll(h, alice, next, [chunk]);
        var after = await Record.ExceptionAsync(() => h.Store.CommitAsync(alice, upload, CancellationToken.None));
        h.AssertConsistent();
        return $"{(refused as DropboxException)?.Kind.ToString() ?? refused?.GetType().Name ?? "committed"}; {called} calls, {waited} waits; next plan {string.Join(",", Puts(next, [chunk]))}; then {(after is null ? "committed" : after.Message)}";
    }
}
