using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// Concurrent commits share the nodes' HasChunks calls (at most one in flight per node, the next one carrying every
/// commit that asked meanwhile), and each commit is still verified by a call sent after it began; a commit takes the
/// write lock as often whether or not its content was held before. Calls are held in flight with the fake node's
/// hook, never timed.
/// </summary>
public sealed class SharedPresenceCallTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromHours(1);
    private static readonly TimeSpan HangBound = TimeSpan.FromSeconds(60);

    private static StoreHarness Harness() =>
        new(o => o with { GcGracePeriod = Grace, NodeTimeout = TimeSpan.FromDays(365), ReplicationFactor = 1, EventWait = TimeSpan.FromMilliseconds(100) });

    /// <summary>Holds the node's first HasChunks call in flight (its answer already made) until the returned source is set.</summary>
    private static TaskCompletionSource HoldFirstCall(StoreHarness h)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Gateway.AfterHas = () =>
        {
            h.Gateway.AfterHas = null;
            return release.Task;
        };
        return release;
    }

    /// <summary>The user plans and puts the chunk, and the node's event is recorded (trusted: nobody held it before).</summary>
    private static void Uploaded(StoreHarness h, UserInfo user, ChunkRef c)
    {
        Assert.Single(h.Store.PlanUpload(user, StoreHarness.Upload("plan", 0, c)).Missing);
        h.Stored(user, c);
    }

    /// <summary>
    /// Content someone once uploaded is collected (a tombstone remains), then <paramref name="user"/> uploads it: its
    /// event is not trusted, so only a node's "held" answer to the commit lets the commit through.
    /// </summary>
    private static async Task ReuploadedAfterCollectionAsync(StoreHarness h, UserInfo someone, UserInfo user, ChunkRef c)
    {
        h.Stored(someone, c);
        h.Clock.Advance(Grace * 2);
        h.Heartbeat();
        Assert.Equal(1, (await h.Store.RunGcOnceAsync(CancellationToken.None)).DeletedChunks);
        Assert.Single(h.Store.PlanUpload(user, StoreHarness.Upload("plan", 0, c)).Missing);
        h.Stored(user, c);
        Assert.False(ChunkLedger.IsStored(ChunkLedger.Read(h.Store.Engine, c.Id)));
    }

    [Fact]
    public async Task Commits_made_while_a_node_call_is_in_flight_share_the_next_call_and_a_chunk_the_node_lacks_still_fails_its_commit()
    {
        // Arrange: alice uploaded eight chunks (their events recorded) and was given a put token for "gone", never put.
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var chunks = Enumerable.Range(1, 8).Select(i => StoreHarness.Chunk(i)).ToArray();
        foreach (var c in chunks)
        {
            Uploaded(h, alice, c);
        }

        var gone = StoreHarness.Chunk(100);
        Assert.Single(h.Store.PlanUpload(alice, StoreHarness.Upload("gone", 0, gone)).Missing);
        var release = HoldFirstCall(h);

        // Act: the first commit's call is held in flight; the other seven and the one naming "gone" start meanwhile.
        var commits = new List<Task<Committed>> { h.Store.CommitAsync(alice, StoreHarness.Upload("f0", 0, chunks[0]), CancellationToken.None) };
        Assert.Equal(1, h.Gateway.HasCalls);
        commits.AddRange(chunks.Skip(1).Select((c, i) => h.Store.CommitAsync(alice, StoreHarness.Upload($"f{i + 1}", 0, c), CancellationToken.None)));
        var refused = h.Store.CommitAsync(alice, StoreHarness.Upload("gone", 0, gone), CancellationToken.None);
        var joined = h.Store.Presence.Joined;
        release.SetResult();
        var committed = await Task.WhenAll(commits).WaitAsync(HangBound);
        var error = await Assert.ThrowsAsync<DropboxException>(() => refused.WaitAsync(HangBound));

        // Assert: nine commits, two calls (the held one and the one all others shared); every file committed but the
        // one whose chunk the node lacks, refused as missing exactly as alone.
        Assert.Equal(2, h.Gateway.HasCalls);
        Assert.Equal(2, h.Store.Presence.Calls);
        Assert.Equal(8, joined);
        Assert.Equal(8, committed.Select(c => c.Entry.Path).Distinct().Count());
        Assert.Equal(ErrorKind.NotFound, error.Kind);
        Assert.Equal(gone.Id.ToString(), error.Details["missing-chunks"]);
        h.AssertConsistent();
    }

    [Fact]
    public async Task An_answer_made_before_a_corrupt_report_is_not_used_by_a_commit_that_began_after_the_report()
    {
        // Arrange: alice's put of c landed on node a, her event is held up; her commit asks the node, which says
        // "held", and that call is held in flight.
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        var c = StoreHarness.Chunk(4);
        Assert.Single(h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c)).Missing);
        h.Gateway.Put(StoreHarness.NodeA, c.Id);
        var release = HoldFirstCall(h);
        var aliceCommit = h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, c), CancellationToken.None);
        Assert.Equal(1, h.Gateway.HasCalls);

        // Meanwhile bob's event for the same bytes is recorded, then node a's scrub quarantines them and reports it.
        h.Stored(bob, c);
        h.Gateway.Remove(StoreHarness.NodeA, c.Id);
        h.Store.ReportChunksCorrupt(StoreHarness.NodeA, [c.Id]);
        Assert.Empty(ChunkLedger.Read(h.Store.Engine, c.Id)?.Locations ?? []);

        // Act: bob's commit begins after the report, while alice's call (answer "held") is still out.
        var bobCommit = h.Store.CommitAsync(bob, StoreHarness.Upload("b", 0, c), CancellationToken.None);
        var joined = h.Store.Presence.Joined;
        release.SetResult();
        var bobRefused = await Assert.ThrowsAsync<DropboxException>(() => bobCommit.WaitAsync(HangBound));
        var aliceRefused = await Assert.ThrowsAsync<DropboxException>(() => aliceCommit.WaitAsync(HangBound));

        // Assert: bob's commit rode a call of its own after the in-flight one, which found the bytes gone; neither
        // commit listed node a again.
        Assert.Equal(1, joined);
        Assert.Equal(2, h.Gateway.HasCalls);
        Assert.Equal((ErrorKind.NotFound, ErrorKind.NotFound), (bobRefused.Kind, aliceRefused.Kind));
        var record = ChunkLedger.Read(h.Store.Engine, c.Id);
        Assert.True(record is null || record.Locations.Count == 0, "node a was listed again: " + record);
    }

    [Fact]
    public async Task A_failing_node_call_answers_not_held_to_every_commit_it_carried_and_the_next_call_is_made_as_usual()
    {
        // Arrange: mallory re-uploads collected content (only a node's answer can confirm it) and uploads fresh
        // content (its event recorded); the node fails every HasChunks call for now, the first held in flight.
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var (mallory, _) = h.Store.AddUser("mallory");
        var once = StoreHarness.Chunk(1);
        var fresh = StoreHarness.Chunk(2);
        await ReuploadedAfterCollectionAsync(h, alice, mallory, once);
        Uploaded(h, mallory, fresh);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Gateway.AfterHas = async () =>
        {
            await release.Task;
            throw new HttpRequestException("node a is down");
        };

        // Act: both commits start while the node is down (the second rides the call after the first), then it is back.
        var onceCommit = h.Store.CommitAsync(mallory, StoreHarness.Upload("once", 0, once), CancellationToken.None);
        var freshCommit = h.Store.CommitAsync(mallory, StoreHarness.Upload("fresh", 0, fresh), CancellationToken.None);
        release.SetResult();
        var refused = await Assert.ThrowsAsync<DropboxException>(() => onceCommit.WaitAsync(HangBound));
        var committed = await freshCommit.WaitAsync(HangBound);
        h.Gateway.AfterHas = null;
        var again = h.Store.PlanUpload(mallory, StoreHarness.Upload("once", 0, once)).Missing.Count;
        h.Stored(mallory, once);
        var later = await h.Store.CommitAsync(mallory, StoreHarness.Upload("once", 0, once), CancellationToken.None).WaitAsync(HangBound);

        // Assert: as when each commit made its own call: "not held" refuses only the commit that needed the node's
        // word, the recorded one commits; the next call after the failures is answered and used.
        Assert.Equal(ErrorKind.NotFound, refused.Kind);
        Assert.Equal("fresh", committed.Entry.Path);
        Assert.Equal(1, again);
        Assert.Equal("once", later.Entry.Path);
        Assert.Equal(3, h.Gateway.HasCalls);
        h.AssertConsistent();
    }

    [Fact]
    public async Task A_commit_cancelled_while_waiting_for_a_shared_call_does_not_cancel_the_call_for_the_others()
    {
        // Arrange: mallory re-uploads collected content (only the node's answer can let its commit through); alice's
        // commit holds a call in flight.
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var (mallory, _) = h.Store.AddUser("mallory");
        var once = StoreHarness.Chunk(1);
        var other = StoreHarness.Chunk(2);
        var first = StoreHarness.Chunk(3);
        await ReuploadedAfterCollectionAsync(h, alice, mallory, once);
        Uploaded(h, mallory, other);
        Uploaded(h, alice, first);
        var release = HoldFirstCall(h);
        var firstCommit = h.Store.CommitAsync(alice, StoreHarness.Upload("first", 0, first), CancellationToken.None);

        // Act: mallory's two commits join the next call; the one naming "other" is cancelled before it is sent.
        using var cancel = new CancellationTokenSource();
        var cancelled = h.Store.CommitAsync(mallory, StoreHarness.Upload("other", 0, other), cancel.Token);
        var onceCommit = h.Store.CommitAsync(mallory, StoreHarness.Upload("once", 0, once), CancellationToken.None);
        var joined = h.Store.Presence.Joined;
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(HangBound));
        release.SetResult();
        await firstCommit.WaitAsync(HangBound);
        var committed = await onceCommit.WaitAsync(HangBound);

        // Assert: the shared call went out and its "held" answer let the other commit through.
        Assert.Equal(2, joined);
        Assert.Equal(2, h.Gateway.HasCalls);
        Assert.Equal("once", committed.Entry.Path);
        h.AssertConsistent();
    }

    [Fact]
    public async Task A_commit_of_new_content_takes_the_write_lock_as_often_as_a_commit_of_content_someone_once_held()
    {
        // Arrange: mallory re-uploads content bob once stored and the collector deleted (its event is not trusted,
        // only the node's answer to her commit records the copy); alice uploads content nobody held before (the
        // node's event is trusted and recorded).
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        var (mallory, _) = h.Store.AddUser("mallory");
        var fresh = StoreHarness.Chunk(1);
        var once = StoreHarness.Chunk(2);
        await ReuploadedAfterCollectionAsync(h, bob, mallory, once);
        Uploaded(h, alice, fresh);
        var mutations = 0;
        h.Store.Transactions.BeforeCommit = () => mutations++;

        // Act: each commit alone, counting the changes made under the write lock.
        var freshCommitted = await h.Store.CommitAsync(alice, StoreHarness.Upload("fresh", 0, fresh), CancellationToken.None).WaitAsync(HangBound);
        var freshMutations = mutations;
        mutations = 0;
        var onceCommitted = await h.Store.CommitAsync(mallory, StoreHarness.Upload("once", 0, once), CancellationToken.None).WaitAsync(HangBound);
        var onceMutations = mutations;
        h.Store.Transactions.BeforeCommit = null;

        // Assert: both committed after asking the node, and took the lock the same number of times: how long a
        // commit waits for the lock does not tell mallory that another account once stored her content.
        Assert.Equal(("fresh", "once"), (freshCommitted.Entry.Path, onceCommitted.Entry.Path));
        Assert.Equal(2, h.Gateway.HasCalls);
        Assert.Equal(onceMutations, freshMutations);
        h.AssertConsistent();
    }

    [Fact]
    public async Task A_commit_that_asks_the_nodes_records_their_answers_in_its_own_locked_step()
    {
        // Arrange: alice uploads content nobody held (her commit asks the node about it), and "kept" she already
        // references (her commit of it asks nothing).
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var kept = StoreHarness.Chunk(1);
        var fresh = StoreHarness.Chunk(2);
        await h.PutFileAsync(alice, "kept", 0, kept);
        Uploaded(h, alice, fresh);
        var mutations = 0;
        h.Store.Transactions.BeforeCommit = () => mutations++;

        // Act
        var calls = h.Gateway.HasCalls;
        await h.Store.CommitAsync(alice, StoreHarness.Upload("kept-again", 0, kept), CancellationToken.None).WaitAsync(HangBound);
        var (keptCalls, keptMutations) = (h.Gateway.HasCalls - calls, mutations);
        mutations = 0;
        await h.Store.CommitAsync(alice, StoreHarness.Upload("fresh", 0, fresh), CancellationToken.None).WaitAsync(HangBound);
        var (freshCalls, freshMutations) = (h.Gateway.HasCalls - calls - keptCalls, mutations);
        h.Store.Transactions.BeforeCommit = null;

        // Assert: the node was asked about the new content only, and each commit took the write lock once.
        Assert.Equal((0, 1), (keptCalls, freshCalls));
        Assert.Equal((1, 1), (keptMutations, freshMutations));
        h.AssertConsistent();
    }
}
