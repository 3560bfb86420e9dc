using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// Outstanding puts live in memory only, and a restart forgets them. For commits that is by design: what a commit asks
/// the nodes about and whether it waits depend only on the account's own state, and after a restart that state is
/// the same (empty) for every chunk, so the restart opens no oracle; a commit fails at once and the client plans again.
/// For a drain it is not: a node registered before the restart counts as having puts outstanding until every token
/// handed out before it could have expired.
/// </summary>
public sealed class PendingPutsRestartTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task After_a_restart_a_commit_of_a_chunk_planned_before_it_is_refused_at_once_exactly_as_one_naming_a_chunk_only_another_account_holds()
    {
        // Arrange: bob holds one chunk; alice was given a put token for another just before the restart.
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        var planned = StoreHarness.Chunk(1);
        var bobs = StoreHarness.Chunk(2);
        await h.PutFileAsync(bob, "b", 0, bobs);
        Assert.Single(h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, planned)).Missing);
        Assert.Equal(1, h.Store.PendingPutCount(alice));

        // Act: restart, then commit each before any event arrives (the manual clock never moves: a commit that waited
        // for an event would not return).
        h.Reopen();
        var waits = h.Store.EventWaits;
        var asked = h.Gateway.HasCalls;
        var refusedPlanned = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, planned), CancellationToken.None).WaitAsync(Bounded));
        var refusedOthers = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, bobs), CancellationToken.None).WaitAsync(Bounded));

        // Assert: the same refusal, no wait and no node asked for either; once alice's put (its token outlived the
        // restart) is reported, the commit goes through.
        Assert.Equal(0, h.Store.PendingPutCount(alice));
        Assert.Equal(refusedOthers.Kind, refusedPlanned.Kind);
        Assert.Contains(planned.Id.ToShortString(), refusedPlanned.Message, StringComparison.Ordinal);
        Assert.Contains(bobs.Id.ToShortString(), refusedOthers.Message, StringComparison.Ordinal);
        Assert.Equal(waits, h.Store.EventWaits);
        Assert.Equal(asked, h.Gateway.HasCalls);
        h.Stored(alice, planned);
        Assert.Equal(1UL, (await h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, planned), CancellationToken.None).WaitAsync(Bounded)).Sequence);
        h.AssertConsistent();
    }

    [Fact]
    public void After_a_restart_a_node_counts_puts_outstanding_until_a_token_handed_out_before_it_could_have_expired()
    {
        // Arrange: a put token for node a, then a restart that forgets it.
        using var h = new StoreHarness(o => o with { NodeTimeout = TimeSpan.FromDays(365) });
        var (alice, _) = h.Store.AddUser("alice");
        Assert.Single(h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, StoreHarness.Chunk(1))).Missing);
        h.Reopen();
        h.Store.Nodes.Register(new NodeRegistration("node-new", "http://127.0.0.1:3", "http://127.0.0.1:3", 0, 0));
        var tokensLast = h.Options.TokenLifetime + h.Options.EventWait;

        // Act + Assert: node a is not drained while the old token may still be used; a node new since the restart was
        // never named by a token.
        Assert.True(h.Store.Nodes.HasOutstandingPuts(StoreHarness.NodeA));
        Assert.False(h.Store.Nodes.HasOutstandingPuts("node-new"));
        h.Clock.Advance(tokensLast - TimeSpan.FromSeconds(1));
        Assert.True(h.Store.Nodes.HasOutstandingPuts(StoreHarness.NodeA));
        h.Clock.Advance(TimeSpan.FromSeconds(2));
        Assert.False(h.Store.Nodes.HasOutstandingPuts(StoreHarness.NodeA));
    }
}
