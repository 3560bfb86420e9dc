using System.Diagnostics;

namespace Dropbox.IntegrationTests.Client;

/// <summary>
/// <c>sync --once</c> as a real process against a real metadata node and storage node: the stability rule for
/// files still being written, and nested <c>.dropboxignore</c> files.
/// </summary>
[Trait("Category", "Slow")]
public sealed class ClientOnceTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Sync_once_leaves_a_file_still_being_written_for_the_next_pass_and_reports_it()
    {
        using var cluster = await ClientCluster.StartAsync(_dir);
        var a = cluster.NewClient("alpha");
        await a.LoginAsync();
        a.Write("steady.txt", "written just before the pass, then left alone");
        a.Write("growing.log", "line 0\n");
        using var stop = new CancellationTokenSource();
        var writer = AppendUntilStoppedAsync(a.PathOf("growing.log"), stop.Token);

        SyncJson during;
        try
        {
            during = await a.SyncAsync();
        }
        finally
        {
            await stop.CancelAsync();
            await writer;
        }

        Assert.Equal(1, during.FilesUploaded);
        Assert.Equal(1, during.Pending);
        var listed = await cluster.NewClientListAsync(a);
        Assert.Contains(listed, l => l.EndsWith("steady.txt", StringComparison.Ordinal));
        Assert.DoesNotContain(listed, l => l.Contains("growing.log", StringComparison.Ordinal));

        var after = await a.SyncAsync();

        Assert.Equal(1, after.FilesUploaded);
        Assert.Equal(0, after.Pending);
        var size = new FileInfo(a.PathOf("growing.log")).Length;
        Assert.Contains(await cluster.NewClientListAsync(a), l => l.TrimStart().StartsWith(size + " ", StringComparison.Ordinal) && l.EndsWith("growing.log", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Nested_ignore_files_apply_per_folder_and_a_synced_file_that_becomes_ignored_is_deleted_nowhere()
    {
        using var cluster = await ClientCluster.StartAsync(_dir);
        var a = cluster.NewClient("alpha");
        var b = cluster.NewClient("bravo");
        await a.LoginAsync();
        await b.LoginAsync();
        a.Write(".dropboxignore", "*.log\n");
        a.Write("app/.dropboxignore", "!keep.log\nbuild/\n");
        a.Write("app/keep.log", "re-included by the deeper file");
        a.Write("app/debug.log", "x");
        a.Write("app/build/out.bin", "x");
        a.Write("app/data.db", "shared at first");
        a.Write("other/keep.log", "the deeper file does not reach here");

        await a.SyncAsync();
        await b.SyncAsync();

        Assert.Equal("re-included by the deeper file", b.Read("app/keep.log"));
        Assert.Equal("!keep.log\nbuild/\n", b.Read("app/.dropboxignore"));
        Assert.Equal("shared at first", b.Read("app/data.db"));
        Assert.False(File.Exists(b.PathOf("app/debug.log")));
        Assert.False(Directory.Exists(b.PathOf("app/build")));
        Assert.False(File.Exists(b.PathOf("other/keep.log")));

        a.Write("app/.dropboxignore", "!keep.log\nbuild/\ndata.db\n");
        await a.SyncAsync();
        File.Delete(a.PathOf("app/data.db"));
        var afterDelete = await a.SyncAsync();
        var atB = await b.SyncAsync();

        Assert.Equal(0, afterDelete.FilesDeleted);
        Assert.Equal(0, atB.FilesDeleted);
        Assert.Equal("shared at first", b.Read("app/data.db"));
        Assert.Contains(await cluster.NewClientListAsync(b), l => l.EndsWith("app/data.db", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_small_file_over_quota_is_reported_alone_and_the_rest_of_its_group_uploads()
    {
        using var cluster = await ClientCluster.StartAsync(_dir);
        using (var channel = Grpc.Net.Client.GrpcChannel.ForAddress(cluster.MetadataUrl))
        {
            var admin = new Dropbox.Shared.Protos.Admin.Admin.AdminClient(channel);
            await admin.SetQuotaAsync(
                new Dropbox.Shared.Protos.Admin.SetQuotaRequest { Name = "alice", QuotaBytes = 1000 },
                new Grpc.Core.Metadata { { "authorization", "Bearer " + cluster.Token } });
        }

        var a = cluster.NewClient("alpha");
        await a.LoginAsync();
        a.Write("a.txt", new string('a', 100));
        a.Write("b.txt", new string('b', 100));
        a.Write("big.txt", new string('c', 2000));

        // The group's batch plan is refused (one file over the quota); the one-file path uploads the others and
        // reports the quota for that file alone.
        var r = await a.RunAsync("sync", "--once", "--json");

        Assert.True(r.Json is { FilesUploaded: 2, Errors: 1 }, r.ToString());
        Assert.Contains("big.txt", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("quota of 1000 bytes", r.Stderr, StringComparison.Ordinal);
        var listed = await cluster.NewClientListAsync(a);
        Assert.Contains(listed, l => l.EndsWith("a.txt", StringComparison.Ordinal));
        Assert.Contains(listed, l => l.EndsWith("b.txt", StringComparison.Ordinal));
        Assert.DoesNotContain(listed, l => l.EndsWith("big.txt", StringComparison.Ordinal));
    }

    private static async Task AppendUntilStoppedAsync(string path, CancellationToken stop)
    {
        var clock = Stopwatch.StartNew();
        for (var i = 1; i < 3000 && clock.Elapsed < TimeSpan.FromSeconds(120) && !stop.IsCancellationRequested; i++)
        {
            await File.AppendAllTextAsync(path, $"line {i}\n", CancellationToken.None);
            try
            {
                await Task.Delay(100, stop); // the pace of a slow writer, not synchronization
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    [Fact]
    public async Task A_first_sync_of_thousands_of_small_files_stays_within_a_fixed_memory_bound_both_ways()
    {
        // A guard against blow-ups, not a benchmark (benchmarks/ client-scale measures): renting a 16 MiB read block
        // per small file once took a 100,000-file upload to 17 GB. Here the whole first pass must fit in a bound
        // that is generous for the client (~60-90 MB at this size) and far below such a failure.
        const int files = 4000;
        const long bound = 250L << 20;
        using var cluster = await ClientCluster.StartAsync(_dir);
        var a = cluster.NewClient("alpha");
        var b = cluster.NewClient("bravo");
        await a.LoginAsync();
        await b.LoginAsync();
        var random = new Random(4000);
        for (var i = 0; i < files; i++)
        {
            var bytes = new byte[random.Next(1, 300)];
            random.NextBytes(bytes);
            a.Write($"tree/{i % 40:00}/f{i:0000}.bin", bytes);
            File.SetLastWriteTimeUtc(a.PathOf($"tree/{i % 40:00}/f{i:0000}.bin"), DateTime.UtcNow.AddMinutes(-1));
        }

        var up = await a.SyncAsync();
        var down = await b.SyncAsync();

        Assert.Equal(files, up.FilesUploaded);
        Assert.Equal(files, down.FilesDownloaded);
        Assert.InRange(up.PeakMemoryBytes, 1, bound);
        Assert.InRange(down.PeakMemoryBytes, 1, bound);
        Assert.Equal(File.ReadAllBytes(a.PathOf("tree/17/f3017.bin")), File.ReadAllBytes(b.PathOf("tree/17/f3017.bin")));

        // 'ls' pages through the listing (1,000 per page): every file once, in path order.
        var listed = (await cluster.NewClientListAsync(b)).Where(l => l.EndsWith(".bin", StringComparison.Ordinal)).Select(l => l.Split(' ')[^1]).ToList();
        Assert.Equal(files, listed.Count);
        Assert.Equal(listed.Order(StringComparer.Ordinal), listed);
        Assert.Equal(files, listed.Distinct().Count());
    }
}
