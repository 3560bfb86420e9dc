using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// A commit asks the nodes about every chunk its account uploaded and does not yet reference (the same calls whatever
/// the chunk's record says), but a "yes" for a chunk the node's own event already recorded as stored there rewrites
/// nothing: on a first upload of many files that was a second write of every new chunk's record. An old grace clock
/// is still restarted, as before.
/// </summary>
public sealed class CommitRecheckTests
{
    [Fact]
    public async Task A_commit_asks_the_node_about_a_chunk_its_event_recorded_moments_ago_and_leaves_the_record_as_the_event_wrote_it()
    {
        // Arrange: alice's "f" is at version 1; she uploads a new chunk (the node reports it), and ten seconds pass.
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        await h.PutFileAsync(alice, "f", 0, StoreHarness.Chunk(1));
        var fresh = StoreHarness.Chunk(2);
        h.Store.PlanUpload(alice, StoreHarness.Upload("g", 0, fresh));
        h.Stored(alice, fresh);
        var recorded = ChunkLedger.Read(h.Store.Engine, fresh.Id)!;
        h.Clock.Advance(TimeSpan.FromSeconds(10));
        h.Heartbeat();
        var calls = h.Gateway.HasCalls;

        // Act: a commit over a stale base (refused as a conflict after its check with the node).
        var refused = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, fresh), CancellationToken.None));

        // Assert: the node was asked, and the chunk's record is byte for byte what the event wrote (its grace clock too).
        Assert.Equal(ErrorKind.Conflict, refused.Kind);
        Assert.Equal(1, h.Gateway.HasCalls - calls);
        Assert.Equal(recorded, ChunkLedger.Read(h.Store.Engine, fresh.Id));
        h.AssertConsistent();
    }

    [Fact]
    public async Task A_commit_asks_the_node_about_a_chunk_uploaded_minutes_ago_and_restarts_its_grace_clock()
    {
        // Arrange: as above, but two minutes pass (over a 60th of the one-hour grace).
        using var h = new StoreHarness(o => o with { GcGracePeriod = TimeSpan.FromHours(1) });
        var (alice, _) = h.Store.AddUser("alice");
        await h.PutFileAsync(alice, "f", 0, StoreHarness.Chunk(1));
        var fresh = StoreHarness.Chunk(2);
        h.Store.PlanUpload(alice, StoreHarness.Upload("g", 0, fresh));
        h.Stored(alice, fresh);
        h.Clock.Advance(TimeSpan.FromMinutes(2));
        h.Heartbeat();

        // Act
        await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, fresh), CancellationToken.None));

        // Assert: the node's answer restarted the clock at the commit's time.
        Assert.Equal(h.Clock.GetUtcNow().ToUnixTimeMilliseconds(), ChunkLedger.Read(h.Store.Engine, fresh.Id)!.ZeroSinceUnixMs);
        h.AssertConsistent();
    }
}
