using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Errors;

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
}
