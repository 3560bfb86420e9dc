using Dropbox.MetadataNode.Tests.Infrastructure;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// A metrics scrape reads the store (its chunk records, RocksDB's table properties) while a shutdown may be closing it:
/// the scrape's reads run under the store's close gate, so a close waits for a read already running and a read after it
/// does not run; a read on the closed database would touch freed native memory and kill the process.
/// </summary>
public sealed class ScrapeCloseRaceTests
{
    [Fact]
    public async Task A_close_waits_for_a_scrape_reading_the_store_and_a_later_scrape_does_not_run()
    {
        using var harness = new StoreHarness();
        var store = harness.Store;
        var (alice, _) = store.AddUser("alice");
        for (var i = 0; i < 50; i++)
        {
            await harness.PutFileAsync(alice, $"f{i}", 0, StoreHarness.Chunk(i));
        }

        store.Engine.FlushAll();
        using var reading = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var scrape = Task.Run(() => store.WhileOpen(() =>
        {
            reading.Set();
            Assert.True(release.Wait(TimeSpan.FromSeconds(30)));
            Assert.True(store.IsOpen, "the store closed under a scrape that was reading it");
            Assert.True(store.CountUnderReplicated() >= 0);
            Assert.True(store.TableReaderBytes > 0);
        }));
        Assert.True(reading.Wait(TimeSpan.FromSeconds(30)));

        // The close begins while the scrape reads: it must not get past the gate (and close RocksDB) until the read ends.
        var closing = Task.Run(store.Dispose);
        Task first;
        try
        {
            first = await Task.WhenAny(closing, Task.Delay(TimeSpan.FromMilliseconds(500)));
        }
        finally
        {
            release.Set(); // never leave the scrape blocked, whatever the outcome
        }

        Assert.NotSame(closing, first);
        Assert.True(await scrape.WaitAsync(TimeSpan.FromSeconds(30)));
        await closing.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.False(store.WhileOpen(() => Assert.Fail("a scrape ran on a closed store")));
    }

    [Fact]
    public async Task The_under_replicated_scan_ends_early_once_the_node_is_stopping()
    {
        using var harness = new StoreHarness(o => o with { ReplicationFactor = 2 }); // one node: every chunk is under-replicated
        var store = harness.Store;
        var (alice, _) = store.AddUser("alice");
        for (var i = 0; i < 50; i++)
        {
            await harness.PutFileAsync(alice, $"f{i}", 0, StoreHarness.Chunk(i));
        }

        Assert.Equal(50, store.CountUnderReplicated());
        store.ReleaseWaiters(); // what the host does when it begins to stop
        Assert.True(store.CountUnderReplicated() <= 1);
    }
}
