using System.Diagnostics;
using System.Text;
using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Errors;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// The purge of removed accounts beside other work: commits between its batches, accounts removed by an earlier release
/// (only the user deleted), and its own timer with garbage collection off.
/// </summary>
public sealed class RemovedAccountPurgeInterleavingTests
{
    private static readonly TimeSpan Grace = PurgeHarness.Grace;

    private static StoreHarness Harness(int batchSize = 512, int batchesPerPass = 256) => PurgeHarness.Create(batchSize, batchesPerPass);

    [Fact]
    public async Task Commits_between_purge_batches_keep_the_chunks_they_reference_and_the_counts_agree_after_every_batch()
    {
        // One version per transaction: alice commits between the batches that drop bob's references.
        using var h = Harness(batchSize: 1);
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        var shared = Enumerable.Range(0, 4).Select(i => StoreHarness.Chunk(200 + i)).ToArray();
        for (var i = 0; i < shared.Length; i++)
        {
            await h.PutFileAsync(bob, $"f{i}", 0, shared[i]);
        }

        h.Store.RemoveUser("bob");
        var batches = 0;
        var refusedForBob = 0;
        h.Store.Purger.AfterBatch = () =>
        {
            h.AssertConsistent();
            var next = batches++;
            if (next < shared.Length)
            {
                // The chunk whose last reference of bob's goes in batch next + 1 (or went in this one): alice names it now.
                h.PutFileAsync(alice, $"a{next}", 0, shared[shared.Length - 1 - next]).GetAwaiter().GetResult();
                refusedForBob += Record.Exception(() => h.PutFileAsync(bob, $"late{next}", 0, shared[next]).GetAwaiter().GetResult()) is DropboxException { Kind: ErrorKind.NotFound } ? 1 : 0;
            }
        };

        h.Store.PurgeRemovedAccounts();
        h.Store.Purger.AfterBatch = null;

        Assert.True(batches >= shared.Length, $"{batches} batch(es)");
        Assert.Equal(shared.Length, refusedForBob);
        Assert.Null(h.Store.Engine.Get(Keys.Namespace(bob.Namespace.Value), h.Store.Engine.Namespaces));
        foreach (var chunk in shared)
        {
            Assert.Equal(1L, ChunkLedger.Read(h.Store.Engine, chunk.Id)!.Refcount);
        }

        h.Clock.Advance(Grace * 2);
        await h.Store.RunGcOnceAsync(CancellationToken.None);
        Assert.All(shared, c => Assert.True(h.Gateway.Holds(StoreHarness.NodeA, c.Id)));
        Assert.Equal(shared.Length, h.Store.ListFiles(alice, string.Empty, false, 100, null).Entries.Count);
        h.AssertConsistent();
    }

    [Fact]
    public async Task An_account_whose_user_an_earlier_release_removed_is_marked_removed_at_open_and_purged()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        await h.PutFileAsync(alice, "a", 0, StoreHarness.Chunk(1));
        await h.PutFileAsync(bob, "b", 0, StoreHarness.Chunk(1), StoreHarness.Chunk(2));

        // What the earlier release's 'user remove' left: the user's records deleted, the namespace and its data kept.
        var engine = h.Store.Engine;
        var bobRecord = UserRecord.Parser.ParseFrom(engine.Get(Keys.UserByName("bob"), engine.Users));
        using (var batch = new RecordBatch(engine))
        {
            batch.DeleteUser(bobRecord);
            batch.Commit(sync: true);
        }

        h.Reopen();
        h.Store.PurgeRemovedAccounts();

        engine = h.Store.Engine;
        var ns = Encoding.UTF8.GetBytes(bob.Namespace.Value + "\0");
        Assert.Null(engine.Get(Keys.Namespace(bob.Namespace.Value), engine.Namespaces));
        Assert.Empty(engine.ScanPrefix(engine.Versions, ns));
        Assert.Empty(engine.ScanPrefix(engine.Files, ns));
        Assert.Equal(1L, ChunkLedger.Read(engine, StoreHarness.Chunk(1).Id)!.Refcount);
        Assert.Equal(0L, ChunkLedger.Read(engine, StoreHarness.Chunk(2).Id)!.Refcount);
        Assert.NotNull(engine.Get(Keys.Namespace(alice.Namespace.Value), engine.Namespaces));
        h.AssertConsistent();
    }

    [Fact]
    public async Task With_garbage_collection_off_the_purge_runs_on_its_own_timer()
    {
        using var h = Harness();
        var (bob, _) = h.Store.AddUser("bob");
        await h.PutFileAsync(bob, "b", 0, StoreHarness.Chunk(1));
        h.Store.RemoveUser("bob");
        Assert.Equal(TimeSpan.Zero, h.Options.GcInterval);

        using var service = new AccountPurgeService(h.Store, h.Options with { PurgeInterval = TimeSpan.FromMilliseconds(20) }, NullLogger<AccountPurgeService>.Instance);
        await service.StartAsync(CancellationToken.None);
        var clock = Stopwatch.StartNew();
        while (h.Store.Engine.Get(Keys.Namespace(bob.Namespace.Value), h.Store.Engine.Namespaces) is not null && clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(20);
        }

        await service.StopAsync(CancellationToken.None);
        Assert.Null(h.Store.Engine.Get(Keys.Namespace(bob.Namespace.Value), h.Store.Engine.Namespaces));
        h.AssertConsistent();
    }
}
