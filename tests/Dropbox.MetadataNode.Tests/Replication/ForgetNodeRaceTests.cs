using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using static Dropbox.MetadataNode.Tests.Replication.ForgetHarness;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>
/// <c>nodes forget</c> against what runs beside it: a report or a commit's check with the nodes landing between the
/// forget's listing and its clearing, a commit during its scan, and copies on draining or dead nodes.
/// </summary>
public sealed class ForgetNodeRaceTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private static StoreHarness Harness(TimeSpan? nodeTimeout = null) => ForgetHarness.Create(nodeTimeout, eventWait: TimeSpan.FromMilliseconds(100));

    [Fact]
    public async Task A_commit_whose_node_check_lands_between_the_forgets_listing_and_its_clearing_records_no_copy_on_the_forgotten_node()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(1);
        h.Store.PlanUpload(alice, StoreHarness.Upload("f", 0, chunk)); // a put token for the chunk
        h.Gateway.Put(StoreHarness.NodeA, chunk.Id);                    // node A holds it; its event never came

        var listed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var clear = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Store.Forgetter.AfterListing = () =>
        {
            listed.TrySetResult();
            Assert.True(clear.Task.Wait(Bound));
        };
        Task<ForgottenNode>? forget = null;
        h.Gateway.AfterHas = async () =>
        {
            // Node A has answered "held"; now the admin forgets A (nothing references the chunk, so it is accepted).
            h.Gateway.AfterHas = null;
            forget = Task.Run(() => h.Store.ForgetNode(StoreHarness.NodeA, force: false, live: true));
            await listed.Task.WaitAsync(Bound);
        };

        var commit = h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, chunk), CancellationToken.None);
        await listed.Task.WaitAsync(Bound);
        var committed = await Record.ExceptionAsync(() => commit.WaitAsync(Bound)); // its write runs inside the window
        clear.SetResult();
        var forgotten = await forget!.WaitAsync(Bound);

        Assert.Equal(0, forgotten.ChunksLost);
        Assert.DoesNotContain(StoreHarness.NodeA, ChunkLedger.Read(h.Store.Engine, chunk.Id)?.Locations ?? []);
        var refused = Assert.IsType<DropboxException>(committed); // the file's only copy is on a forgotten node: not acknowledged
        Assert.Contains(chunk.Id.ToShortString(), refused.Message, StringComparison.Ordinal);
        h.AssertConsistent();
    }

    [Fact]
    public async Task A_commit_made_after_the_forget_committed_and_before_its_clearing_is_refused_as_missing_not_acknowledged_and_lost()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(9);
        h.Stored(alice, chunk); // put on A and reported, not committed yet: not counted by the forget, so it is accepted

        Exception? committed = null;
        h.Store.Forgetter.AfterListing = () =>
        {
            // A has left the registry; its location on the chunk is not cleared yet.
            h.Store.Forgetter.AfterListing = null;
            committed = Record.Exception(() => Assert.True(Task.Run(() => h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, chunk), CancellationToken.None)).Wait(Bound)));
        };

        var forgotten = h.Store.ForgetNode(StoreHarness.NodeA, force: false, live: true);

        Assert.Equal(0, forgotten.ChunksLost); // nothing acknowledged was lost
        var refused = Assert.IsType<DropboxException>(Assert.IsType<AggregateException>(committed).InnerException);
        Assert.Contains(chunk.Id.ToShortString(), refused.Message, StringComparison.Ordinal);

        // The client puts the chunk elsewhere and commits.
        ReportOn(h, NodeB, alice, chunk);
        await h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, chunk), CancellationToken.None);
        Assert.Equal([NodeB], ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations);
        h.AssertConsistent();
    }

    [Fact]
    public async Task A_plan_made_while_the_forget_runs_asks_again_for_a_referenced_chunk_whose_only_copy_is_on_the_node_being_forgotten()
    {
        // Arrange: a committed file whose only copy is on A.
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(11);
        h.Stored(alice, chunk);
        await h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, chunk), CancellationToken.None);

        // Act: another file of the same content is planned while A is being forgotten (its location not cleared yet).
        UploadPlan? plan = null;
        h.Store.Forgetter.AfterListing = () =>
        {
            h.Store.Forgetter.AfterListing = null;
            plan = h.Store.PlanUpload(alice, StoreHarness.Upload("g", 0, chunk));
        };
        h.Store.ForgetNode(StoreHarness.NodeA, force: true, live: true);

        // Assert: the plan asks for the bytes, as the commit (which counts no copy on A) will need them; "you hold it"
        // would have the commit refuse it as missing on every pass until the forget cleared the location.
        Assert.NotNull(plan);
        Assert.Contains(plan.Missing, p => p.ChunkId == chunk.Id);
    }

    [Fact]
    public async Task A_report_checked_before_the_forget_and_written_between_its_listing_and_its_clearing_records_no_copy()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(2);

        var listed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var clear = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Store.Forgetter.AfterListing = () =>
        {
            listed.TrySetResult();
            Assert.True(clear.Task.Wait(Bound));
        };
        Task<ForgottenNode>? forget = null;
        h.Store.Uploads.BeforeReportWrite = () =>
        {
            h.Store.Uploads.BeforeReportWrite = null;
            forget = Task.Run(() => h.Store.ForgetNode(StoreHarness.NodeA, force: false, live: true));
            Assert.True(listed.Task.Wait(Bound));
        };

        var report = Record.Exception(() => ReportOn(h, StoreHarness.NodeA, alice, chunk));
        clear.SetResult();
        await forget!.WaitAsync(Bound);

        Assert.DoesNotContain(StoreHarness.NodeA, ChunkLedger.Read(h.Store.Engine, chunk.Id)?.Locations ?? []);
        Assert.Equal(ErrorKind.NotFound, Assert.IsType<DropboxException>(report).Kind);
        h.AssertConsistent();
    }

    [Fact]
    public async Task The_forgets_scan_holds_no_lock_and_a_reference_committed_during_it_to_a_chunk_only_the_node_holds_is_still_counted()
    {
        using var h = Harness(nodeTimeout: TimeSpan.FromMinutes(1));
        const string draining = "node-e";
        RegisterNode(h, draining, 3);
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(3);
        h.Stored(alice, chunk); // uploaded to A, not referenced yet: not a sole copy of anything referenced
        ReportOn(h, draining, alice, chunk); // and to a node that then drains: a commit counts it, the forget does not
        h.Clock.Advance(TimeSpan.FromMinutes(2));
        h.Store.Nodes.Heartbeat(StoreHarness.NodeA, 0, 0);
        h.Store.Nodes.Heartbeat(draining, 0, 0);
        h.Store.Nodes.SetDraining(draining, draining: true);

        var committed = false;
        var heartbeat = false;
        h.Store.Forgetter.WhileScanning = () =>
        {
            h.Store.Forgetter.WhileScanning = null;
            heartbeat = Task.Run(() => h.Store.Nodes.Heartbeat(NodeB, 0, 0)).Wait(Bound);
            committed = Task.Run(() => h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, chunk), CancellationToken.None)).Wait(Bound);
        };

        var refused = Assert.Throws<DropboxException>(() => h.Store.ForgetNode(StoreHarness.NodeA, force: false, live: true));

        Assert.True(heartbeat, "a heartbeat waited for the forget's scan");
        Assert.True(committed, "a commit waited for the forget's scan");
        Assert.Equal(ErrorKind.Conflict, refused.Kind);
        Assert.Contains("1 referenced chunk", refused.Message, StringComparison.Ordinal);
        Assert.True(h.Store.Nodes.TryGet(StoreHarness.NodeA, out _));

        // Refused: the node is as before, and takes new copies again.
        var later = StoreHarness.Chunk(4);
        h.Stored(alice, later);
        Assert.Contains(StoreHarness.NodeA, ChunkLedger.Read(h.Store.Engine, later.Id)!.Locations);
        await h.PutFileAsync(alice, "g", 0, later);
        h.AssertConsistent();
    }

    [Fact]
    public async Task Copies_on_draining_or_dead_nodes_do_not_count_as_second_copies_and_the_refusal_names_those_chunks()
    {
        using var h = Harness(nodeTimeout: TimeSpan.FromMinutes(1));
        const string draining = "node-d", dead = "node-e";
        foreach (var node in new[] { draining, dead })
        {
            RegisterNode(h, node, 3);
        }

        var (alice, _) = h.Store.AddUser("alice");
        var onDraining = StoreHarness.Chunk(5);
        var onDead = StoreHarness.Chunk(6);
        var onLive = StoreHarness.Chunk(7);
        await h.PutFileAsync(alice, "d", 0, onDraining);
        ReportOn(h, draining, alice, onDraining);
        await h.PutFileAsync(alice, "e", 0, onDead);
        ReportOn(h, dead, alice, onDead);
        await h.PutFileAsync(alice, "b", 0, onLive);
        ReportOn(h, NodeB, alice, onLive);
        h.Store.Nodes.SetDraining(draining, draining: true);
        h.Clock.Advance(TimeSpan.FromMinutes(2));
        foreach (var node in new[] { StoreHarness.NodeA, NodeB, draining })
        {
            h.Store.Nodes.Heartbeat(node, 0, 0); // node-e stays silent: dead
        }

        var refused = Assert.Throws<DropboxException>(() => h.Store.ForgetNode(StoreHarness.NodeA, force: false, live: true));

        Assert.Equal(ErrorKind.Conflict, refused.Kind);
        Assert.Contains("2 referenced chunk", refused.Message, StringComparison.Ordinal);
        Assert.Contains(onDraining.Id.ToString(), refused.Message, StringComparison.Ordinal);
        Assert.Contains(onDead.Id.ToString(), refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(onLive.Id.ToString(), refused.Message, StringComparison.Ordinal);
        Assert.True(h.Store.Nodes.TryGet(StoreHarness.NodeA, out _));
    }

    [Fact]
    public async Task A_corrupt_report_during_the_forgets_scan_that_removes_the_other_copy_makes_the_forget_refuse_not_lose_the_chunk()
    {
        // Arrange: a committed chunk on A and B.
        using var h = Harness();
        var (alice, chunk) = await CommittedOnAAndBAsync(h, 12);

        // Act: after the scan saw the copy on B, B's scrub quarantines it and reports it corrupt; then the forget counts.
        h.Store.Forgetter.BeforeCheck = () =>
        {
            h.Store.Forgetter.BeforeCheck = null;
            Assert.Equal(1, h.Store.ReportChunksCorrupt(NodeB, [chunk.Id]).Repairable);
        };
        var refused = Assert.Throws<DropboxException>(() => h.Store.ForgetNode(StoreHarness.NodeA, force: false, live: true));

        // Assert: A now holds the only intact copy: refused, nothing changed, and the file still reads from A.
        Assert.Equal(ErrorKind.Conflict, refused.Kind);
        Assert.Contains("1 referenced chunk", refused.Message, StringComparison.Ordinal);
        Assert.True(h.Store.Nodes.MayHoldNewCopies(StoreHarness.NodeA));
        Assert.Equal([StoreHarness.NodeA], ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations);
        Assert.Equal([StoreHarness.NodeA], h.Store.GetDownloadPlan(alice, "f", 0).Chunks.Single().Holders.Select(n => n.NodeId));
    }

    [Fact]
    public async Task A_corrupt_report_counted_before_the_forget_starts_and_committed_after_its_scan_began_makes_the_forget_refuse()
    {
        // Arrange: a committed chunk on A and B; the forget of A is marked and about to take its baseline.
        using var h = Harness();
        var (alice, chunk) = await CommittedOnAAndBAsync(h, 13);
        var begun = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reportCounted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scanned = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Store.Forgetter.AfterBegin = () =>
        {
            h.Store.Forgetter.AfterBegin = null;
            begun.TrySetResult();
            Assert.True(reportCounted.Task.Wait(Bound));
        };
        h.Store.Forgetter.BeforeCheck = () => scanned.TrySetResult();
        var forget = Task.Run(() => h.Store.ForgetNode(StoreHarness.NodeA, force: false, live: true));
        await begun.Task.WaitAsync(Bound);

        // Act: B's report of the chunk runs its body (counted) and, before its commit, lets the forget go on. Fixed, the
        // forget's baseline waits for the commit, so the scan never finishes first: the short wait below runs out.
        h.Store.Transactions.BeforeCommit = () =>
        {
            h.Store.Transactions.BeforeCommit = null;
            reportCounted.TrySetResult();
            scanned.Task.Wait(TimeSpan.FromSeconds(2));
        };
        Assert.Equal(1, h.Store.ReportChunksCorrupt(NodeB, [chunk.Id]).Repairable);
        var refused = await Assert.ThrowsAsync<DropboxException>(() => forget.WaitAsync(Bound));

        // Assert: A holds the only intact copy: refused, and the file still reads from A.
        Assert.Equal(ErrorKind.Conflict, refused.Kind);
        Assert.Contains("1 referenced chunk", refused.Message, StringComparison.Ordinal);
        Assert.Equal([StoreHarness.NodeA], ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Locations);
        Assert.Equal([StoreHarness.NodeA], h.Store.GetDownloadPlan(alice, "f", 0).Chunks.Single().Holders.Select(n => n.NodeId));
    }

    [Fact]
    public async Task Corrupt_reports_during_the_forgets_scan_of_chunks_still_held_elsewhere_do_not_fail_the_forget()
    {
        // Arrange: R=2 with a third node C; three committed chunks on A, B and C.
        using var h = Harness();
        const string nodeC = "node-c";
        RegisterNode(h, nodeC, 3);
        var (alice, _) = h.Store.AddUser("alice");
        var chunks = Enumerable.Range(20, 3).Select(i => StoreHarness.Chunk(i)).ToArray();
        foreach (var (chunk, i) in chunks.Select((c, i) => (c, i)))
        {
            await h.PutFileAsync(alice, $"f{i}", 0, chunk);
            ReportOn(h, NodeB, alice, chunk);
            ReportOn(h, nodeC, alice, chunk);
        }

        // Act: while the forget of A scans, B's scrub reports one of them corrupt (a failing disk reports in batches);
        // each scan (a rescan would be one more) sees a new report.
        var reported = 0;
        h.Store.Forgetter.WhileScanning = () =>
        {
            if (reported < chunks.Length)
            {
                Assert.Equal(1, h.Store.ReportChunksCorrupt(NodeB, [chunks[reported++].Id]).Repairable);
            }
        };
        var forgotten = h.Store.ForgetNode(StoreHarness.NodeA, force: false, live: true);

        // Assert: every chunk still has C, so the forget goes through at once, reading only the reported chunk again.
        Assert.Equal(0, forgotten.ChunksLost);
        Assert.Equal(1, reported);
        Assert.Equal(1, h.Store.Forgetter.ReadUnderLock);
        Assert.True(h.Store.Nodes.IsForgotten(StoreHarness.NodeA));
        Assert.All(chunks.Skip(1), c => Assert.Equal([NodeB, nodeC], ChunkLedger.Read(h.Store.Engine, c.Id)!.Locations.Order(StringComparer.Ordinal)));
        Assert.Equal([nodeC], ChunkLedger.Read(h.Store.Engine, chunks[0].Id)!.Locations);
    }

    [Fact]
    public async Task A_node_holding_the_only_copy_of_referenced_chunks_is_refused_without_reading_them_under_the_write_lock()
    {
        // Arrange: one replica per chunk, so every chunk on A is a candidate.
        using var h = new StoreHarness(o => o with { NodeTimeout = TimeSpan.FromDays(365), ReplicationFactor = 1 });
        var (alice, _) = h.Store.AddUser("alice");
        var chunks = Enumerable.Range(100, 20).Select(i => StoreHarness.Chunk(i)).ToArray();
        await h.PutFileAsync(alice, "big", 0, chunks);

        var refused = Assert.Throws<DropboxException>(() => h.Store.ForgetNode(StoreHarness.NodeA, force: false, live: true));

        Assert.Equal(ErrorKind.Conflict, refused.Kind);
        Assert.Contains("20 referenced chunk", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, h.Store.Forgetter.ReadUnderLock); // writers were not held off while 20 (or millions) were read
        Assert.True(h.Store.Nodes.MayHoldNewCopies(StoreHarness.NodeA));
    }
}
