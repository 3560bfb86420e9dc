using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Data.Sqlite;

namespace Dropbox.IntegrationTests.Client;

/// <summary>
/// The sync client end to end: a real metadata node, a real storage node and two real client processes with
/// two folders, on 127.0.0.1 ephemeral ports.
/// </summary>
[Trait("Category", "Slow")]
public sealed class ClientEndToEndTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    private async Task<(ClientCluster Cluster, ClientProcess A, ClientProcess B)> StartAsync()
    {
        var cluster = await ClientCluster.StartAsync(_dir);
        var a = cluster.NewClient("alpha");
        var b = cluster.NewClient("bravo");
        await a.LoginAsync();
        await b.LoginAsync();
        return (cluster, a, b);
    }

    [Fact]
    public async Task First_sync_then_an_edit_moves_only_the_changed_chunks_both_ways()
    {
        var (cluster, a, b) = await StartAsync();
        using var _ = cluster;
        var big = RandomBytes(24 << 20, 1);
        a.Write("media/big.bin", big);
        a.Write("notes/hello.txt", "hello");
        a.Write("empty.txt", []);
        a.Write("ünïcödé/名前.txt", "unicode");
        Directory.CreateDirectory(a.PathOf("empty-folder"));

        var up = await a.SyncAsync();
        var down = await b.SyncAsync();

        Assert.Equal(4, up.FilesUploaded);
        Assert.True(up.ChunksUploaded >= 6, $"a 24 MiB file is several chunks, got {up.ChunksUploaded}");
        Assert.Equal(4, down.FilesDownloaded);
        Assert.Equal(SHA256.HashData(big), SHA256.HashData(File.ReadAllBytes(b.PathOf("media/big.bin"))));
        Assert.Equal("hello", b.Read("notes/hello.txt"));
        Assert.Equal(0, new FileInfo(b.PathOf("empty.txt")).Length);
        Assert.Equal("unicode", b.Read("ünïcödé/名前.txt"));
        Assert.True(Directory.Exists(b.PathOf("empty-folder")));

        // Delta: a few bytes in the middle of the large file.
        big[12 << 20] ^= 0x5A;
        big[(12 << 20) + 1] ^= 0x5A;
        a.Write("media/big.bin", big);
        var editUp = await a.SyncAsync();
        var editDown = await b.SyncAsync();

        Assert.Equal(1, editUp.FilesUploaded);
        Assert.InRange(editUp.ChunksUploaded, 1, 2);
        Assert.True(editUp.BytesUploaded < 9 << 20, $"uploaded {editUp.BytesUploaded} bytes for a 2-byte edit");
        Assert.Equal(1, editDown.FilesDownloaded);
        Assert.InRange(editDown.ChunksDownloaded, 1, 2);
        Assert.True(editDown.ChunksReused >= 4);
        Assert.True(editDown.BytesDownloaded < 9 << 20, $"downloaded {editDown.BytesDownloaded} bytes for a 2-byte edit");
        Assert.Equal(SHA256.HashData(big), SHA256.HashData(File.ReadAllBytes(b.PathOf("media/big.bin"))));

        // Nothing changed: nothing moves.
        var idle = await a.SyncAsync();
        Assert.Equal(0, idle.FilesUploaded + idle.FilesDownloaded + idle.ChunksUploaded);
    }

    [Fact]
    public async Task A_rename_reaches_the_server_as_a_move_and_the_other_client_renames()
    {
        var (cluster, a, b) = await StartAsync();
        using var _ = cluster;
        a.Write("old/report.bin", RandomBytes(3 << 20, 2));
        await a.SyncAsync();
        await b.SyncAsync();

        Directory.CreateDirectory(a.PathOf("archive"));
        File.Move(a.PathOf("old/report.bin"), a.PathOf("archive/report-2026.bin"));
        var up = await a.SyncAsync();
        var down = await b.SyncAsync();

        Assert.Equal(1, up.FilesMoved);
        Assert.Equal(0, up.FilesUploaded);
        Assert.Equal(0, up.ChunksUploaded);
        Assert.Equal(1, down.FilesMoved);
        Assert.Equal(0, down.ChunksDownloaded);
        Assert.True(File.Exists(b.PathOf("archive/report-2026.bin")));
        Assert.False(File.Exists(b.PathOf("old/report.bin")));
        var history = await a.RunAsync("history", "archive/report-2026.bin");
        Assert.Equal(0, history.ExitCode);
    }

    [Fact]
    public async Task A_move_a_reconcile_finds_in_the_listing_is_a_local_rename_with_nothing_in_the_trash()
    {
        var (cluster, a, b) = await StartAsync();
        using var _ = cluster;
        a.Write("old/report.bin", RandomBytes(1 << 20, 4));
        await a.SyncAsync();
        await b.SyncAsync();
        Directory.CreateDirectory(a.PathOf("archive"));
        File.Move(a.PathOf("old/report.bin"), a.PathOf("archive/report.bin"));
        Assert.Equal(1, (await a.SyncAsync()).FilesMoved);

        // The real metadata node's listing shows the move as a deleted path and a new one of the same content.
        var down = await b.SyncAsync(true, "--reconcile");

        Assert.Equal(1, down.FilesMoved);
        Assert.Equal(0, down.FilesDownloaded);
        Assert.Equal(0, down.FilesDeleted);
        Assert.Equal(RandomBytes(1 << 20, 4), File.ReadAllBytes(b.PathOf("archive/report.bin")));
        Assert.False(File.Exists(b.PathOf("old/report.bin")));
        Assert.False(Directory.Exists(Path.Combine(b.State, "trash")), "the moved file went to the trash");
    }

    [Fact]
    public async Task A_delete_propagates_and_restore_brings_the_file_back_everywhere()
    {
        var (cluster, a, b) = await StartAsync();
        using var _ = cluster;
        a.Write("precious.txt", "do not lose me");
        a.Write("stays.txt", "so the folder is not emptied (an empty sync folder deletes nothing unconfirmed)");
        await a.SyncAsync();
        await b.SyncAsync();

        File.Delete(a.PathOf("precious.txt"));
        var del = await a.SyncAsync();
        var delDown = await b.SyncAsync();
        Assert.Equal(1, del.FilesDeleted);
        Assert.Equal(1, delDown.FilesDeleted);
        Assert.False(File.Exists(b.PathOf("precious.txt")));

        var history = await b.RunAsync("history", "precious.txt");
        Assert.True(history.ExitCode == 0, history.ToString());
        Assert.Contains("deleted", history.Stdout, StringComparison.Ordinal);
        var restore = await b.RunAsync("restore", "precious.txt");
        Assert.True(restore.ExitCode == 0, restore.ToString());

        var back = await b.SyncAsync();
        var backA = await a.SyncAsync();
        Assert.Equal(1, back.FilesDownloaded);
        Assert.Equal(1, backA.FilesDownloaded);
        Assert.Equal("do not lose me", b.Read("precious.txt"));
        Assert.Equal("do not lose me", a.Read("precious.txt"));
    }

    [Fact]
    public async Task Concurrent_edits_keep_both_versions_with_a_conflicted_copy()
    {
        var (cluster, a, b) = await StartAsync();
        using var _ = cluster;
        a.Write("plan.txt", "base");
        await a.SyncAsync();
        await b.SyncAsync();

        a.Write("plan.txt", "alpha's edit");
        b.Write("plan.txt", "bravo's different edit");
        await a.SyncAsync();
        var conflicted = await b.SyncAsync();
        await a.SyncAsync();

        Assert.Equal(1, conflicted.Conflicts);
        Assert.Equal("alpha's edit", b.Read("plan.txt"));
        Assert.Equal("alpha's edit", a.Read("plan.txt"));
        var copyB = Assert.Single(Directory.GetFiles(b.Folder, "plan (conflicted copy bravo *).txt"));
        var copyA = Assert.Single(Directory.GetFiles(a.Folder, "plan (conflicted copy bravo *).txt"));
        Assert.Equal("bravo's different edit", File.ReadAllText(copyB));
        Assert.Equal("bravo's different edit", File.ReadAllText(copyA));
        var list = await b.RunAsync("conflicts");
        Assert.Contains("conflicted copy bravo", list.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_killed_mid_upload_sends_only_the_missing_chunks_on_the_next_run()
    {
        var (cluster, a, b) = await StartAsync();
        using var _ = cluster;
        var content = RandomBytes(128 << 20, 3);
        a.Write("huge.bin", content);

        long doneAtKill;
        using (var first = a.Start("sync", "--once", "--json", "--parallelism", "1"))
        {
            doneAtKill = await UploadProgressProbe.WaitForChunksAsync(a.State, atLeast: 12, first, TimeSpan.FromSeconds(120), "the upload finished before it could be killed; use a larger file.");
            first.Kill(); // SIGKILL: no cleanup, no commit
        }

        Assert.Equal(0, (await cluster.NewClientListAsync(b)).Count(l => l.Contains("huge.bin", StringComparison.Ordinal)));
        var resumed = await a.SyncAsync();

        Assert.Equal(1, resumed.FilesUploaded);
        var total = resumed.ChunksUploaded + resumed.ChunksDeduplicated;
        Assert.True(resumed.ChunksDeduplicated >= doneAtKill, $"{doneAtKill} chunks were stored before the kill, but only {resumed.ChunksDeduplicated} were skipped");
        Assert.True(resumed.ChunksUploaded <= total - doneAtKill, $"re-sent chunks: uploaded {resumed.ChunksUploaded} of {total} after {doneAtKill} were stored");

        var down = await b.SyncAsync();
        Assert.Equal(1, down.FilesDownloaded);
        Assert.Equal(SHA256.HashData(content), SHA256.HashData(File.ReadAllBytes(b.PathOf("huge.bin"))));
    }

    [Fact]
    public async Task A_pass_that_would_delete_most_files_stops_until_allowed_and_a_missing_folder_is_an_error()
    {
        var (cluster, a, b) = await StartAsync();
        using var _ = cluster;
        for (var i = 0; i < 12; i++)
        {
            a.Write($"docs/f{i:00}.txt", $"file {i}");
        }

        await a.SyncAsync();
        await b.SyncAsync();

        // The folder vanishes (an unmounted drive): an error, never "everything was deleted".
        Directory.Move(a.Folder, a.Folder + "-away");
        var missing = await a.RunAsync("sync", "--once", "--json");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("missing", missing.Stderr, StringComparison.Ordinal);
        Directory.Move(a.Folder + "-away", a.Folder);

        foreach (var f in Directory.GetFiles(a.PathOf("docs")))
        {
            File.Delete(f);
        }

        var stopped = await a.RunAsync("sync", "--once", "--json");
        Assert.True(stopped.ExitCode == 3, stopped.ToString());
        Assert.Contains("--allow-mass-delete", stopped.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, (await b.SyncAsync()).FilesDeleted);
        Assert.Equal(12, Directory.GetFiles(b.PathOf("docs")).Length);

        var allowed = await a.SyncAsync(expectSuccess: true, "--allow-mass-delete");
        Assert.Equal(12, allowed.FilesDeleted);
        var propagated = await b.SyncAsync(expectSuccess: true, "--allow-mass-delete");
        Assert.Equal(12, propagated.FilesDeleted);
    }

    [Fact]
    public async Task The_daemon_syncs_on_its_own_and_on_sync_now()
    {
        var (cluster, a, b) = await StartAsync();
        using var _ = cluster;
        using var daemon = b.Start("sync");
        await daemon.WaitForOutputAsync(new System.Text.RegularExpressions.Regex("sync: "), TimeSpan.FromSeconds(60));

        a.Write("from-alpha.txt", "pushed");
        await a.SyncAsync();
        var now = await b.RunAsync("sync", "--now");
        Assert.True(now.ExitCode == 0, now.ToString());
        await WaitUntilAsync(() => Task.FromResult(File.Exists(b.PathOf("from-alpha.txt"))), TimeSpan.FromSeconds(60), () => daemon.Stdout + daemon.Stderr);
        Assert.Equal("pushed", b.Read("from-alpha.txt"));

        b.Write("from-bravo.txt", "watched");
        await WaitUntilAsync(async () => (await cluster.NewClientListAsync(a)).Any(l => l.Contains("from-bravo.txt", StringComparison.Ordinal)), TimeSpan.FromSeconds(60), () => daemon.Stdout + daemon.Stderr);
    }

    [Fact]
    public async Task A_tree_of_a_thousand_files_syncs_and_a_reconcile_finds_nothing_to_repair()
    {
        var (cluster, a, b) = await StartAsync();
        using var _ = cluster;
        for (var i = 0; i < 1000; i++)
        {
            a.Write($"tree/d{i % 10}/e{i % 7}/file{i:0000}.txt", $"file number {i}\n");
        }

        a.Write(".dropboxignore", "*.log\n");
        a.Write("tree/noise.log", "ignored");

        var up = await a.SyncAsync();
        var down = await b.SyncAsync();
        var reconcile = await b.RunAsync("sync", "--once", "--json", "--reconcile");

        Assert.Equal(1001, up.FilesUploaded);
        Assert.Equal(1001, down.FilesDownloaded);
        Assert.False(File.Exists(b.PathOf("tree/noise.log")));
        Assert.Equal("file number 999\n", b.Read("tree/d9/e5/file0999.txt"));
        Assert.True(reconcile.ExitCode == 0, reconcile.ToString());
        Assert.Equal(0, reconcile.Json!.FilesUploaded + reconcile.Json.FilesDownloaded + reconcile.Json.Errors);
    }


    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> diagnostics)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("Condition not met in time.\n" + diagnostics());
    }

    private static byte[] RandomBytes(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
