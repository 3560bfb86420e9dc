using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// Where a commit records the nodes' answers about chunks no event confirmed: in its own locked step when it does not
/// wait for the account's events, before the wait (in a step of their own) when it does. Asserted on outcomes, calls
/// and waits, never on timing.
/// </summary>
public sealed class CommitAnswerRecordingTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromHours(1);

    private static readonly TimeSpan HangBound = TimeSpan.FromSeconds(60);

    /// <summary>A wait long enough that only the account's event (never the timer) ends it within a test.</summary>
    private static StoreHarness Harness(TimeSpan? eventWait = null, bool syncWrites = false) =>
        new(o => o with { GcGracePeriod = Grace, NodeTimeout = TimeSpan.FromDays(365), ReplicationFactor = 1, EventWait = eventWait ?? HangBound, SyncWrites = syncWrites });

    /// <summary>Content <paramref name="user"/> uploaded and never committed, collected: a tombstone remains, the node holds nothing.</summary>
    private static async Task CollectedAsync(StoreHarness h, UserInfo user, ChunkRef c)
    {
        h.Stored(user, c);
        h.Clock.Advance(Grace * 2);
        Assert.Equal(1, (await h.Store.RunGcOnceAsync(CancellationToken.None)).DeletedChunks);
        h.Heartbeat();
    }

    /// <summary>Returns once <paramref name="commit"/> waits for the account's events (bounded).</summary>
    private static async Task UntilWaitingAsync(StoreHarness h, long waitsBefore, Task commit)
    {
        var deadline = DateTime.UtcNow + HangBound;
        while (h.Store.EventWaits == waitsBefore && !commit.IsCompleted && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.Equal(waitsBefore + 1, h.Store.EventWaits);
    }

    [Fact]
    public async Task An_uploaded_mark_the_accounts_event_writes_while_its_commit_waits_outlives_the_refusal_so_the_next_plan_asks_for_nothing()
    {
        // Arrange: content alice once uploaded was collected (a tombstone remains). She plans it again; her commit comes
        // before her put, so the node answers "not held" (as it does when its call fails).
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var c = StoreHarness.Chunk(1);
        await CollectedAsync(h, alice, c);
        Assert.Single(h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c)).Missing);

        // Act: while the commit waits for her event, the put lands and its event comes (not trusted against the
        // tombstone, but it marks the chunk hers).
        var waits = h.Store.EventWaits;
        var commit = h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, c), CancellationToken.None);
        await UntilWaitingAsync(h, waits, commit);
        h.Stored(alice, c);
        var refused = await Assert.ThrowsAsync<DropboxException>(() => commit.WaitAsync(HangBound));
        var replanned = h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c)).Missing.Count;

        // Assert: refused (the node had not vouched for the bytes), but the mark her event wrote during the wait
        // stands: the next plan asks for nothing (asserted before the retry: were it asked for, the plan's new put
        // token would make the retry wait for an event that never comes)...
        Assert.Equal(ErrorKind.NotFound, refused.Kind);
        Assert.Equal(0, replanned);

        // ...and the retry asks the node, which now holds the bytes, and commits.
        var calls = h.Gateway.HasCalls;
        var retried = await h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, c), CancellationToken.None).WaitAsync(HangBound);
        Assert.Equal(1, h.Gateway.HasCalls - calls);
        Assert.Equal(1UL, retried.Sequence);
        h.AssertConsistent();
    }

    [Fact]
    public async Task A_collector_pass_deleting_another_accounts_chunk_while_a_commit_waits_does_not_discard_the_nodes_answers()
    {
        // Arrange: content alice once uploaded was collected (a tombstone remains); bob uploaded other content and never
        // committed it, and its grace is over. Alice plans hers again and puts it; her commit comes before her event.
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        var c = StoreHarness.Chunk(1);
        var b = StoreHarness.Chunk(2);
        await CollectedAsync(h, alice, c);
        h.Stored(bob, b);
        h.Clock.Advance(Grace * 2);
        h.Heartbeat();
        Assert.Single(h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c)).Missing);
        h.Gateway.Put(StoreHarness.NodeA, c.Id);

        // Act: the node answers "held"; while the commit waits for her event, the collector deletes bob's chunk, then
        // her event comes.
        var waits = h.Store.EventWaits;
        var commit = h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, c), CancellationToken.None);
        await UntilWaitingAsync(h, waits, commit);
        Assert.Equal(1, (await h.Store.RunGcOnceAsync(CancellationToken.None)).DeletedChunks);
        Assert.False(h.Gateway.HoldsAnywhere(b.Id));
        h.Stored(alice, c);
        var committed = await commit.WaitAsync(HangBound);

        // Assert: the answer, taken before the deletion and recorded before the wait, stands: committed.
        Assert.Equal(1UL, committed.Sequence);
        Assert.True(h.Gateway.Holds(StoreHarness.NodeA, c.Id));
        h.AssertConsistent();
    }

    [Fact]
    public async Task A_fresh_mark_the_nodes_disprove_is_refused_at_once_without_waiting_for_an_event()
    {
        // Arrange: mallory re-uploads collected content (her event is not trusted, so her put stays pending and the plan
        // counts the chunk hers on her mark alone); then the node loses the bytes.
        using var h = Harness(eventWait: TimeSpan.FromSeconds(2));
        var (alice, _) = h.Store.AddUser("alice");
        var (mallory, _) = h.Store.AddUser("mallory");
        var c = StoreHarness.Chunk(1);
        await CollectedAsync(h, alice, c);
        Assert.Single(h.Store.PlanUpload(mallory, StoreHarness.Upload("x", 0, c)).Missing);
        h.Stored(mallory, c);
        Assert.Equal(1, h.Store.PendingPutCount(mallory));
        h.Gateway.Remove(StoreHarness.NodeA, c.Id);

        // Act
        var (calls, waits) = (h.Gateway.HasCalls, h.Store.EventWaits);
        var refused = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(mallory, StoreHarness.Upload("x", 0, c), CancellationToken.None).WaitAsync(HangBound));

        // Assert: the node was asked once and the commit refused without waiting (the event that wrote the mark came
        // already); the mark is gone, so the next plan asks for the chunk.
        Assert.Equal(ErrorKind.NotFound, refused.Kind);
        Assert.Equal((1, 0L), (h.Gateway.HasCalls - calls, h.Store.EventWaits - waits));
        Assert.Single(h.Store.PlanUpload(mallory, StoreHarness.Upload("x", 0, c)).Missing);
        h.AssertConsistent();
    }

    [Fact]
    public async Task A_refused_commit_that_wrote_the_nodes_answers_waits_for_no_wal_sync()
    {
        // Arrange: as above, a refusal whose batch writes something (the mark the node disproves is dropped).
        using var h = Harness(eventWait: TimeSpan.FromSeconds(2), syncWrites: true);
        var (alice, _) = h.Store.AddUser("alice");
        var (mallory, _) = h.Store.AddUser("mallory");
        var c = StoreHarness.Chunk(1);
        await CollectedAsync(h, alice, c);
        h.Store.PlanUpload(mallory, StoreHarness.Upload("x", 0, c));
        h.Stored(mallory, c);
        h.Gateway.Remove(StoreHarness.NodeA, c.Id);
        var written = h.Store.Engine.LatestSequence;

        // Act
        var refused = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(mallory, StoreHarness.Upload("x", 0, c), CancellationToken.None).WaitAsync(HangBound));

        // Assert: refused; the refusal wrote, and no WAL sync followed it (whether it writes depends on other accounts'
        // records, so a sync only when it did would be a timing signal of them).
        Assert.Equal(ErrorKind.NotFound, refused.Kind);
        Assert.True(h.Store.Engine.LatestSequence > written);
        Assert.True(h.Store.Engine.DurableSequence < h.Store.Engine.LatestSequence);
        Assert.Single(h.Store.PlanUpload(mallory, StoreHarness.Upload("x", 0, c)).Missing);
    }

    [Fact]
    public async Task A_commit_refused_by_a_check_that_throws_fails_with_that_checks_own_exception()
    {
        // Arrange: a quota below the file's size.
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        await h.Store.SetQuotaAsync("alice", 1000);
        var c = StoreHarness.Chunk(1, size: 5000);

        // Act
        var refused = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(alice, StoreHarness.Upload("big", 0, c), CancellationToken.None));

        // Assert: the quota check's exception as it threw it (its stack names the check), not a copy of its message.
        Assert.Equal(ErrorKind.ResourceExhausted, refused.Kind);
        Assert.Contains(nameof(UploadCommit.EnsureWithinQuota), refused.StackTrace, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_commit_that_finds_its_untrusted_upload_held_on_the_node_ends_the_accounts_pending_put()
    {
        // Arrange: mallory re-uploads collected content: her event is not trusted, so her put stays pending.
        using var h = Harness(eventWait: TimeSpan.FromSeconds(2));
        var (alice, _) = h.Store.AddUser("alice");
        var (mallory, _) = h.Store.AddUser("mallory");
        var c = StoreHarness.Chunk(1);
        await CollectedAsync(h, alice, c);
        h.Store.PlanUpload(mallory, StoreHarness.Upload("x", 0, c));
        h.Stored(mallory, c);
        Assert.Equal(1, h.Store.PendingPutCount(mallory));

        // Act: her commit asks the node, which holds the bytes.
        var committed = await h.Store.CommitAsync(mallory, StoreHarness.Upload("x", 0, c), CancellationToken.None).WaitAsync(HangBound);
        var calls = h.Gateway.HasCalls;
        var again = await h.Store.CommitAsync(mallory, StoreHarness.Upload("y", 0, c), CancellationToken.None).WaitAsync(HangBound);

        // Assert: committed, and the put is no longer pending: a later commit of the same content asks nothing.
        Assert.Equal((1UL, 2UL), (committed.Sequence, again.Sequence));
        Assert.Equal(0, h.Store.PendingPutCount(mallory));
        Assert.Equal(0, h.Gateway.HasCalls - calls);
        h.AssertConsistent();
    }

    [Fact]
    public async Task An_uploaded_mark_written_while_the_nodes_answer_is_not_dropped_by_their_older_not_held()
    {
        // Arrange: mallory re-uploads collected content (her event is not trusted: the plan counts it hers on her mark
        // alone), and the node loses the bytes.
        using var h = Harness(eventWait: TimeSpan.FromSeconds(2));
        var (alice, _) = h.Store.AddUser("alice");
        var (mallory, _) = h.Store.AddUser("mallory");
        var c = StoreHarness.Chunk(1);
        await CollectedAsync(h, alice, c);
        h.Store.PlanUpload(mallory, StoreHarness.Upload("x", 0, c));
        h.Stored(mallory, c);
        h.Gateway.Remove(StoreHarness.NodeA, c.Id);

        // Act: her commit asks the node, which answers "not held"; before the commit records that, her other device's
        // put of the same bytes lands and its event comes (a second later).
        h.Gateway.AfterHas = () =>
        {
            h.Gateway.AfterHas = null;
            h.Clock.Advance(TimeSpan.FromSeconds(1));
            h.Stored(mallory, c);
            return Task.CompletedTask;
        };
        var refused = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(mallory, StoreHarness.Upload("x", 0, c), CancellationToken.None).WaitAsync(HangBound));
        var replanned = h.Store.PlanUpload(mallory, StoreHarness.Upload("x", 0, c)).Missing.Count;

        // Assert: refused on the answer it had, but the newer mark stands: the next plan asks for nothing, and the
        // retry finds the bytes on the node and commits.
        Assert.Equal(ErrorKind.NotFound, refused.Kind);
        Assert.Equal(0, replanned);
        var retried = await h.Store.CommitAsync(mallory, StoreHarness.Upload("x", 0, c), CancellationToken.None).WaitAsync(HangBound);
        Assert.Equal(1UL, retried.Sequence);
        h.AssertConsistent();
    }
}
