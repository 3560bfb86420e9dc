using System.Text;
using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>A removed user's account is purged in the background on a real store; no other account's data is touched.</summary>
public sealed class RemovedAccountPurgeTests
{
    private static readonly TimeSpan Grace = PurgeHarness.Grace;

    private static StoreHarness Harness(int batchSize = 512, int batchesPerPass = 256) => PurgeHarness.Create(batchSize, batchesPerPass);

    [Fact]
    public async Task Removing_bob_purges_his_account_collects_only_his_unique_chunks_after_the_grace_and_leaves_alice_whole()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        var shared = StoreHarness.Chunk(1);
        var aliceOnly = StoreHarness.Chunk(2);
        var bobOnly = StoreHarness.Chunk(3);
        var bobOld = StoreHarness.Chunk(4);
        var bobLate = StoreHarness.Chunk(5);
        await h.PutFileAsync(alice, "a/shared.bin", 0, shared, aliceOnly);
        var v1 = await h.PutFileAsync(bob, "b/shared.bin", 0, bobOld);
        await h.PutFileAsync(bob, "b/shared.bin", v1.Sequence, shared, bobOnly); // an old version stays in bob's history
        await h.PutFileAsync(bob, "b/late.bin", 0, bobLate);
        h.Stored(bob, StoreHarness.Chunk(6)); // uploaded, never committed: a chunk mark of bob's

        // Act: remove bob; alice then commits a chunk only bob referenced (the purge must keep it).
        h.Store.RemoveUser("bob");
        var inFlight = await Assert.ThrowsAsync<DropboxException>(() => h.PutFileAsync(bob, "b/after.bin", 0, bobOnly));
        Assert.Equal(ErrorKind.NotFound, inFlight.Kind);
        await h.PutFileAsync(alice, "a/late.bin", 0, bobLate);
        await h.Store.RunGcOnceAsync(CancellationToken.None);

        // Assert: nothing of bob's namespace is left in the store, and the counts still agree.
        var ns = Encoding.UTF8.GetBytes(bob.Namespace.Value + "\0");
        var engine = h.Store.Engine;
        Assert.Empty(engine.ScanPrefix(engine.Versions, ns));
        Assert.Empty(engine.ScanPrefix(engine.Files, ns));
        Assert.Empty(engine.ScanPrefix(engine.Changes, ns));
        Assert.Empty(engine.ScanPrefix(engine.NamespaceChunks, ns));
        Assert.Null(engine.Get(Keys.Namespace(bob.Namespace.Value), engine.Namespaces));
        Assert.Null(engine.Get(Keys.UserByName("bob"), engine.Users));
        Assert.DoesNotContain(h.Store.ListUsers(), u => u.Name == "bob");
        h.AssertConsistent();

        // Within the grace nothing is deleted from the nodes; after it, only bob's unique chunks are.
        Assert.True(h.Gateway.Holds(StoreHarness.NodeA, bobOnly.Id));
        h.Clock.Advance(Grace * 2);
        await h.Store.RunGcOnceAsync(CancellationToken.None);
        Assert.False(h.Gateway.Holds(StoreHarness.NodeA, bobOnly.Id));
        Assert.False(h.Gateway.Holds(StoreHarness.NodeA, bobOld.Id));
        foreach (var kept in new[] { shared, aliceOnly, bobLate })
        {
            Assert.True(h.Gateway.Holds(StoreHarness.NodeA, kept.Id), kept.Id.ToShortString());
        }

        Assert.Equal([shared.Id, aliceOnly.Id], h.Store.GetDownloadPlan(alice, "a/shared.bin", 0).Chunks.Select(c => c.Chunk.Id));
        Assert.Equal(bobLate.Id, h.Store.GetDownloadPlan(alice, "a/late.bin", 0).Chunks[0].Chunk.Id);
        Assert.Equal(2, h.Store.ListFiles(alice, string.Empty, false, 100, null).Entries.Count);
        h.AssertConsistent();
    }

    [Fact]
    public async Task A_purge_that_fails_is_logged_and_the_collector_pass_still_collects_other_accounts_chunks()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        await h.PutFileAsync(bob, "b.bin", 0, StoreHarness.Chunk(1));
        var aliceUnused = StoreHarness.Chunk(2);
        h.Stored(alice, aliceUnused); // uploaded, never committed: collected after the grace
        h.Store.RemoveUser("bob");
        h.Clock.Advance(Grace * 2);
        h.Store.Purger.AfterBatch = () => throw new InvalidDataException("injected: a corrupt record in bob's account");

        await h.Store.RunGcOnceAsync(CancellationToken.None); // does not throw

        Assert.False(h.Gateway.Holds(StoreHarness.NodeA, aliceUnused.Id));
        h.Store.Purger.AfterBatch = null;
        await h.Store.RunGcOnceAsync(CancellationToken.None); // the purge is retried and finishes
        Assert.Equal(0, h.Store.Purger.Pending);
        h.AssertConsistent();
    }

    [Fact]
    public async Task A_purge_cut_short_by_a_crash_resumes_at_the_next_pass_and_finishes()
    {
        // Two records per transaction, one transaction per pass: each pass leaves the account part-purged.
        using var h = Harness(batchSize: 2, batchesPerPass: 1);
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        await h.PutFileAsync(alice, "keep", 0, StoreHarness.Chunk(100));
        for (var i = 0; i < 5; i++)
        {
            await h.PutFileAsync(bob, $"f{i}", 0, StoreHarness.Chunk(i), StoreHarness.Chunk(100));
        }

        h.Store.RemoveUser("bob");
        await h.Store.RunGcOnceAsync(CancellationToken.None);
        var ns = Encoding.UTF8.GetBytes(bob.Namespace.Value + "\0");
        Assert.NotEmpty(h.Store.Engine.ScanPrefix(h.Store.Engine.Versions, ns));
        h.AssertConsistent();

        // A crash now: the store reopens with the account still marked removed and picks up where it stopped.
        h.Reopen(unclean: true);
        for (var pass = 0; pass < 40 && h.Store.Engine.Get(Keys.Namespace(bob.Namespace.Value), h.Store.Engine.Namespaces) is not null; pass++)
        {
            await h.Store.RunGcOnceAsync(CancellationToken.None);
            h.AssertConsistent();
        }

        Assert.Null(h.Store.Engine.Get(Keys.Namespace(bob.Namespace.Value), h.Store.Engine.Namespaces));
        Assert.Empty(h.Store.Engine.ScanPrefix(h.Store.Engine.Changes, ns));
        Assert.Equal(1L, ChunkLedger.Read(h.Store.Engine, StoreHarness.Chunk(100).Id)!.Refcount);
        Assert.Equal(0L, ChunkLedger.Read(h.Store.Engine, StoreHarness.Chunk(0).Id)!.Refcount);
        Assert.Single(h.Store.ListFiles(alice, string.Empty, false, 100, null).Entries);
    }
}
