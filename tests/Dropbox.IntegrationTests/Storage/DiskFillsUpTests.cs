using System.Diagnostics;
using System.Security.Cryptography;
using Dropbox.IntegrationTests.Client;
using Dropbox.IntegrationTests.Observability;

namespace Dropbox.IntegrationTests.Storage;

/// <summary>
/// A storage node process whose data folder is a small tmpfs (mounted for the test, as DiskFullTests does: the tests
/// run as root), beside a roomy one, replication 1: a client's sync fills the small disk; the node refuses the put whose
/// write finds no space (RESOURCE_EXHAUSTED, 507 on the presigned links), the client has the rest placed on the other
/// node and finishes, the node's /metrics says it is full, and every chunk it stored before reads back intact. The node
/// keeps no reserve (--reserve-mb 0): with one, a burst of puts inside one reading of the free space (500 ms) could all
/// be taken and the node reported full by heartbeat before any put was refused (seen in 2 of 6 runs).
/// </summary>
[Trait("Category", "Slow")]
public sealed class DiskFillsUpTests : IDisposable
{
    private const long MiB = 1024 * 1024;

    private readonly TempFolder _dir = new();
    private readonly string _smallDisk;

    public DiskFillsUpTests()
    {
        // ClientCluster keeps storage node 2's data in DIR/storage2: the tmpfs goes there before the node starts.
        _smallDisk = _dir.CreateSub("storage2");
        Run("mount", "-t", "tmpfs", "-o", "size=160m", "tmpfs", _smallDisk);
    }

    public void Dispose()
    {
        Run("umount", "-l", _smallDisk);
        _dir.Dispose();
    }

    [Fact]
    public async Task A_sync_that_fills_a_nodes_disk_finishes_on_the_other_node_and_the_full_node_keeps_every_chunk_it_stored()
    {
        // Arrange: a metadata node, storage node s1 (roomy) and s2 (the tmpfs), one copy of each chunk; a first file of
        // about 16 chunks, about half of them on s2.
        // s2 keeps no reserve: it finds itself full only when a put's write finds no space, so the metadata node cannot
        // learn it (heartbeat) before a put was refused, and the refusal keeps it full until 64 MiB are free again.
        using var cluster = await ClientCluster.StartAsync(_dir, storageNodes: 2, replication: 1, storageArguments: i => i == 2 ? ["--reserve-mb", "0"] : []);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        await WaitUntilAsync(async () => (await PrometheusText.ScrapeAsync(http, cluster.MetadataMetricsUrl!)).Sum("dropbox_storage_nodes", ("state", "live")) == 2, "both storage nodes live");
        var alpha = cluster.NewClient("alpha");
        await alpha.LoginAsync();
        var before = RandomNumberGenerator.GetBytes((int)(16 * MiB));
        alpha.Write("before.bin", before);
        Assert.Equal(1, (await alpha.SyncAsync()).FilesUploaded);
        var small = cluster.StorageMetricsUrls[1];
        var storedBefore = (await PrometheusText.ScrapeAsync(http, small)).Single("dropbox_storage_chunks");
        Assert.True(storedBefore >= 1, "no chunk of the first file landed on the small node");

        // The node checkpoints its index onto this disk every 30 s: a second 16 MiB table is written, then the first
        // purged. One landing while the client fills the disk would refuse puts for a moment (the client then avoids the
        // node) and leave room again afterwards; so start right after one: the disk holds what it holds at rest, and the
        // next is 30 s away.
        await WaitForIndexCheckpointAsync();

        // The rest of the disk taken but for 6 MiB (as other data on a shared disk would).
        var free = new DriveInfo(_smallDisk).AvailableFreeSpace;
        var ballast = free - (6 * MiB);
        Assert.True(ballast > 0, $"only {free} bytes free on the small disk after the first file");
        await using (var file = new FileStream(Path.Combine(_smallDisk, "ballast"), FileMode.CreateNew))
        {
            var block = new byte[MiB];
            for (long written = 0; written < ballast; written += block.Length)
            {
                await file.WriteAsync(block.AsMemory(0, (int)Math.Min(block.Length, ballast - written)));
            }
        }

        // Act: a 48 MiB file: about half its chunks are placed on s2, which has room for about 6 MiB of them: a write
        // there finds no space ("no space left on device"), and that put is refused as full.
        var after = RandomNumberGenerator.GetBytes((int)(48 * MiB));
        alpha.Write("after.bin", after);
        var sync = await alpha.SyncAsync();

        // Assert: the sync finished; s2 refused puts as full and says so on /metrics; s1 took the rest.
        Assert.Equal(1, sync.FilesUploaded);
        Assert.Equal(0, sync.Errors);
        var smallMetrics = await PrometheusText.ScrapeAsync(http, small);
        Assert.Equal(1, smallMetrics.Single("dropbox_storage_full"));
        Assert.True(smallMetrics.Single("dropbox_storage_puts_refused_full_total") >= 1, smallMetrics.Text);
        Assert.True(smallMetrics.Single("dropbox_storage_chunks") >= storedBefore, smallMetrics.Text);

        // A new device gets both files, byte for byte: every chunk s2 stored, before and while filling up, reads intact.
        var beta = cluster.NewClient("beta");
        await beta.LoginAsync();
        var down = await beta.SyncAsync();
        Assert.Equal(2, down.FilesDownloaded);
        Assert.Equal(before, await File.ReadAllBytesAsync(beta.PathOf("before.bin")));
        Assert.Equal(after, await File.ReadAllBytesAsync(beta.PathOf("after.bin")));
    }

    /// <summary>
    /// Waits (bounded) until the small node has completed an index checkpoint it had not when called: its one checkpoint
    /// folder is a new one, and the disk's free space holds still over half a second (the table is written).
    /// </summary>
    private async Task WaitForIndexCheckpointAsync()
    {
        var folder = Path.Combine(_smallDisk, "index", "faster", "checkpoints", "index-checkpoints");
        HashSet<string> Checkpoints() => Directory.Exists(folder) ? [.. Directory.EnumerateDirectories(folder)] : [];
        var before = Checkpoints();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(90))
        {
            var now = Checkpoints();
            if (now.Count == 1 && !now.SetEquals(before))
            {
                var free = new DriveInfo(_smallDisk).AvailableFreeSpace;
                await Task.Delay(500);
                if (new DriveInfo(_smallDisk).AvailableFreeSpace == free && Checkpoints().SetEquals(now))
                {
                    return;
                }
            }

            await Task.Delay(100);
        }

        Assert.Fail($"no index checkpoint completed in {folder} within 90 s (it had {before.Count} checkpoint folder(s))");
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"not within 60 s: {what}");
            await Task.Delay(100);
        }
    }

    private static void Run(string program, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(program, args) { UseShellExecute = false, RedirectStandardError = true })!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit(30_000);
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', args)} failed ({process.ExitCode}): {error} (the test mounts a tmpfs and needs root)");
    }
}
