using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Chunks;
using Dropbox.MetadataNode.Domain;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// A commit naming a chunk the account never uploaded takes the same path whether or not another account holds it:
/// the same calls to the nodes, the same wait, the same refusal. Asserted on the path (calls, waits), not on timing.
/// </summary>
public sealed class CommitOracleTests
{
    [Fact]
    public async Task A_commit_of_a_planned_chunk_another_account_holds_asks_the_nodes_exactly_as_for_a_chunk_nobody_holds()
    {
        // Arrange: alice stores "secret"; mallory is given put tokens for it and for fresh content, and puts neither.
        using var h = new StoreHarness(o => o with { EventWait = TimeSpan.FromMilliseconds(100) });
        var (alice, _) = h.Store.AddUser("alice");
        var (mallory, _) = h.Store.AddUser("mallory");
        var secret = StoreHarness.Chunk(1);
        var nowhere = StoreHarness.Chunk(2);
        await h.PutFileAsync(alice, "secret", 0, secret);
        h.Store.PlanUpload(mallory, StoreHarness.Upload("x", 0, secret));
        h.Store.PlanUpload(mallory, StoreHarness.Upload("y", 0, nowhere));

        // Act
        var calls0 = h.Gateway.HasCalls;
        var waits0 = h.Store.EventWaits;
        var held = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(mallory, StoreHarness.Upload("x", 0, secret), CancellationToken.None));
        var calls1 = h.Gateway.HasCalls;
        var waits1 = h.Store.EventWaits;
        var absent = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(mallory, StoreHarness.Upload("y", 0, nowhere), CancellationToken.None));

        // Assert: each commit asked the node once and waited once, and both were refused alike.
        Assert.Equal((1, 1L), (calls1 - calls0, waits1 - waits0));
        Assert.Equal((1, 1L), (h.Gateway.HasCalls - calls1, h.Store.EventWaits - waits1));
        Assert.Equal((ErrorKind.NotFound, ErrorKind.NotFound), (held.Kind, absent.Kind));
        Assert.Equal(string.Join(",", held.Details.Keys.Order()), string.Join(",", absent.Details.Keys.Order()));
        Assert.Equal(held.Message.Replace(secret.Id.ToString(), "ID", StringComparison.Ordinal), absent.Message.Replace(nowhere.Id.ToString(), "ID", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_wait_for_the_accounts_own_event_ends_an_event_wait_after_the_commit_began_however_long_the_nodes_take_to_answer()
    {
        // Arrange: mallory holds a put token and puts nothing; the node's answer takes longer than the whole event wait.
        using var h = new StoreHarness(o => o with { EventWait = TimeSpan.FromSeconds(2) });
        var (mallory, _) = h.Store.AddUser("mallory");
        var nowhere = StoreHarness.Chunk(2);
        h.Store.PlanUpload(mallory, StoreHarness.Upload("y", 0, nowhere));
        h.Gateway.AfterHas = () =>
        {
            h.Clock.Advance(TimeSpan.FromSeconds(3));
            return Task.CompletedTask;
        };
        var waits = h.Store.EventWaits;

        // Act
        var refused = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(mallory, StoreHarness.Upload("y", 0, nowhere), CancellationToken.None));

        // Assert: the node was asked, and the wait was already over when it answered (it did not start after the answer).
        Assert.Equal(ErrorKind.NotFound, refused.Kind);
        Assert.Equal(1, h.Gateway.HasCalls);
        Assert.Equal(waits, h.Store.EventWaits);
    }
    private static readonly TimeSpan Grace = TimeSpan.FromHours(1);

    private static StoreHarness GcHarness() => new(o => o with { GcGracePeriod = Grace, NodeTimeout = TimeSpan.FromDays(365), ReplicationFactor = 1, EventWait = TimeSpan.FromMilliseconds(100) });

    /// <summary>Plans the chunk, puts it (the node reports it), plans it again, commits: what the account sees and the calls the server made.</summary>
    private static async Task<(int Missing, int AgainMissing, int Calls, long Waits, ulong Sequence)> PutTwiceAndCommitAsync(StoreHarness h, UserInfo user, string path, ChunkRef c)
    {
        var missing = h.Store.PlanUpload(user, StoreHarness.Upload(path, 0, c)).Missing.Count;
        h.Stored(user, c);
        var again = h.Store.PlanUpload(user, StoreHarness.Upload(path, 0, c)).Missing.Count;
        var (calls, waits) = (h.Gateway.HasCalls, h.Store.EventWaits);
        var committed = await h.Store.CommitAsync(user, StoreHarness.Upload(path, 0, c), CancellationToken.None);
        return (missing, again, h.Gateway.HasCalls - calls, h.Store.EventWaits - waits, committed.Sequence);
    }

    [Fact]
    public async Task Uploading_content_someone_once_held_and_that_was_collected_looks_to_the_account_and_the_nodes_like_new_content()
    {
        // Arrange: "once" was uploaded by alice, never committed, and collected (a tombstone remains); "never" never existed.
        using var h = GcHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var (mallory, _) = h.Store.AddUser("mallory");
        var once = StoreHarness.Chunk(1);
        var never = StoreHarness.Chunk(2);
        h.Stored(alice, once);
        h.Clock.Advance(Grace * 2);
        Assert.Equal(1, (await h.Store.RunGcOnceAsync(CancellationToken.None)).DeletedChunks);
        h.Clock.Advance(Grace * 2);
        await h.Store.RunGcOnceAsync(CancellationToken.None);
        h.Heartbeat();

        // Act: mallory plans, puts, plans again and commits each.
        var collected = await PutTwiceAndCommitAsync(h, mallory, "x", once);
        var fresh = await PutTwiceAndCommitAsync(h, mallory, "y", never);

        // Assert: the same answers (asked once, then held), the same calls to the nodes and waits, both committed.
        Assert.Equal((1, 0, 1, 0L, 1UL), collected);
        Assert.Equal((1, 0, 1, 0L, 2UL), fresh);
        h.AssertConsistent();
    }

    [Fact]
    public async Task An_upload_never_committed_counts_for_the_grace_only_whether_or_not_another_account_references_the_content()
    {
        // Arrange: alice references "shared"; mallory uploads it and "alone" (nobody else holds it) and commits neither.
        using var h = GcHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var (mallory, _) = h.Store.AddUser("mallory");
        var shared = StoreHarness.Chunk(1);
        var alone = StoreHarness.Chunk(2);
        await h.PutFileAsync(alice, "shared", 0, shared);
        h.Store.PlanUpload(mallory, StoreHarness.Upload("s", 0, shared));
        h.Store.PlanUpload(mallory, StoreHarness.Upload("a", 0, alone));
        h.Stored(mallory, shared, alone);

        // Act: past the grace and a collector pass ("alone" is collected, "shared" stays), mallory plans both again.
        h.Clock.Advance(Grace * 2);
        h.Heartbeat();
        Assert.Equal(1, (await h.Store.RunGcOnceAsync(CancellationToken.None)).DeletedChunks);
        var sharedAgain = h.Store.PlanUpload(mallory, StoreHarness.Upload("s", 0, shared)).Missing.Count;
        var aloneAgain = h.Store.PlanUpload(mallory, StoreHarness.Upload("a", 0, alone)).Missing.Count;
        var refused = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(mallory, StoreHarness.Upload("s", 0, shared), CancellationToken.None));

        // Assert: both are asked for again and a commit without a new put is refused; after putting again, both commit.
        Assert.Equal((1, 1), (sharedAgain, aloneAgain));
        Assert.Equal(ErrorKind.NotFound, refused.Kind);
        h.Stored(mallory, shared, alone);
        await h.Store.CommitAsync(mallory, StoreHarness.Upload("s", 0, shared), CancellationToken.None);
        await h.Store.CommitAsync(mallory, StoreHarness.Upload("a", 0, alone), CancellationToken.None);
        h.AssertConsistent();
    }

    [Fact]
    public async Task A_commit_refused_because_the_nodes_lack_an_uploaded_chunk_drops_the_mark_so_the_next_plan_asks_for_it()
    {
        // Arrange: content someone once held was collected; mallory uploads it again (her event is not trusted, so the
        // plan counts it hers on her mark alone), then the node loses the bytes before she commits.
        using var h = GcHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var (mallory, _) = h.Store.AddUser("mallory");
        var c = StoreHarness.Chunk(1);
        h.Stored(alice, c);
        h.Clock.Advance(Grace * 2);
        Assert.Equal(1, (await h.Store.RunGcOnceAsync(CancellationToken.None)).DeletedChunks);
        h.Heartbeat();
        Assert.Single(h.Store.PlanUpload(mallory, StoreHarness.Upload("x", 0, c)).Missing);
        h.Stored(mallory, c);
        Assert.Empty(h.Store.PlanUpload(mallory, StoreHarness.Upload("x", 0, c)).Missing);
        h.Gateway.Remove(StoreHarness.NodeA, c.Id);

        // Act: the commit asks the node, which no longer holds the chunk.
        var calls = h.Gateway.HasCalls;
        var refused = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(mallory, StoreHarness.Upload("x", 0, c), CancellationToken.None));

        // Assert: refused as missing, and the mark went with the refusal: the next plan asks for the chunk again.
        Assert.Equal(1, h.Gateway.HasCalls - calls);
        Assert.Equal(ErrorKind.NotFound, refused.Kind);
        Assert.Single(h.Store.PlanUpload(mallory, StoreHarness.Upload("x", 0, c)).Missing);
        h.AssertConsistent();
    }
}
