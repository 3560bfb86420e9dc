using Dropbox.Hosting;
using Dropbox.MetadataNode.Services;
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
            Assert.False(store.TryCountUnderReplicated(out _), "the close under way did not cut the scan short");
            Assert.True(store.TableReaderBytes > 0);
        }));
        Assert.True(reading.Wait(TimeSpan.FromSeconds(30)));

        // The close begins while the scrape reads: it must not get past the gate (and close RocksDB) until the read ends.
        var closing = Task.Run(store.Dispose);
        Task first;
        try
        {
            first = await Task.WhenAny(closing, Task.Delay(TimeSpan.FromMilliseconds(500)));

            // The close has begun (it cancels the scans before it waits at the gate), however slowly the pool started it.
            Assert.True(SpinWait.SpinUntil(() => store.IsStopping, TimeSpan.FromSeconds(30)));
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
        using var harness = await UnderReplicatedStoreAsync(50);
        var store = harness.Store;

        Assert.True(store.TryCountUnderReplicated(out var whole));
        Assert.Equal(50, whole);
        store.ReleaseWaiters(); // what the host does when it begins to stop
        Assert.False(store.TryCountUnderReplicated(out var partial));
        Assert.True(partial <= 1);
    }

    [Fact]
    public async Task A_close_without_ReleaseWaiters_cuts_short_a_scan_that_holds_the_gate()
    {
        using var harness = await UnderReplicatedStoreAsync(50);
        var store = harness.Store;

        // A scrape that scans again and again under the gate, as one long scan over a large store would, until a scan is
        // cut short; bounded in time so that a close which never cancels it fails the test instead of hanging it.
        using var scanning = new ManualResetEventSlim();
        var scans = 0;
        var cutShort = false;
        var scrape = Task.Run(() => store.WhileOpen(() =>
        {
            var until = DateTime.UtcNow.AddSeconds(10);
            while (DateTime.UtcNow < until)
            {
                scans++;
                scanning.Set();
                if (!store.TryCountUnderReplicated(out _))
                {
                    cutShort = true;
                    return;
                }
            }
        }));
        Assert.True(scanning.Wait(TimeSpan.FromSeconds(30)));

        var closing = Task.Run(store.Dispose); // no ReleaseWaiters first: a test's or a failed start's close
        Assert.True(await scrape.WaitAsync(TimeSpan.FromSeconds(30)));
        await closing.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(cutShort, $"the close waited for {scans} whole scans instead of cutting the one under way short");
        Assert.False(store.IsOpen);
    }

    [Fact]
    public async Task A_scan_cut_short_by_stopping_does_not_replace_the_last_whole_count_in_the_metrics()
    {
        using var harness = await UnderReplicatedStoreAsync(50);
        var store = harness.Store;

        var node = new NodeMetrics();
        var metrics = new MetadataMetrics(node, store);
        Assert.Equal(50, await UnderReplicatedGaugeAsync(node));

        store.ReleaseWaiters();
        metrics.InvalidateUnderReplicated(); // the cache is due: the next scrape scans, and the scan ends early
        Assert.Equal(50, await UnderReplicatedGaugeAsync(node));
    }

    [Fact]
    public async Task A_node_stopping_before_its_first_whole_count_exports_no_under_replicated_count()
    {
        using var harness = await UnderReplicatedStoreAsync(5);
        var store = harness.Store;

        var node = new NodeMetrics();
        _ = new MetadataMetrics(node, store);
        store.ReleaseWaiters(); // stopping before any scrape: every scan is cut short

        Assert.Null(await UnderReplicatedGaugeAsync(node)); // not a 0 that would read as "all replicated"
    }

    /// <summary>A store of <paramref name="files"/> one-chunk files, each under-replicated (a factor of 2, one node).</summary>
    private static async Task<StoreHarness> UnderReplicatedStoreAsync(int files)
    {
        var harness = new StoreHarness(o => o with { ReplicationFactor = 2 });
        var (alice, _) = harness.Store.AddUser("alice");
        for (var i = 0; i < files; i++)
        {
            await harness.PutFileAsync(alice, $"f{i}", 0, StoreHarness.Chunk(i));
        }

        return harness;
    }

    private static async Task<double?> UnderReplicatedGaugeAsync(NodeMetrics node)
    {
        using var text = new MemoryStream();
        await node.Registry.CollectAndExportAsTextAsync(text);
        var line = System.Text.Encoding.UTF8.GetString(text.ToArray()).Split('\n')
            .SingleOrDefault(l => l.StartsWith("dropbox_chunks_under_replicated ", StringComparison.Ordinal));
        return line is null ? null : double.Parse(line["dropbox_chunks_under_replicated ".Length..], System.Globalization.CultureInfo.InvariantCulture);
    }
}
