using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.MemoryMappedFiles;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The "racy git" rule (<see cref="RacyClean"/>): content read while its mtime was younger than the stable age is not
/// vouched for by size and mtime. A file the quiet-period rule took mid-write is read again once past the stable age
/// (its final bytes follow without further activity), and a remote edit never replaces newer local bytes.
/// </summary>
public sealed class RacyCleanTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    /// <summary>How long after its last write the final content must be on the server: the stable age plus slack for a loaded machine.</summary>
    private static readonly TimeSpan FollowsWithin = TimeSpan.FromSeconds(12);

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_file_last_written_through_a_shared_mapping_reaches_the_server_whole_without_further_activity()
    {
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = SyncOptions.DefaultStableAge });
        var summaries = new ConcurrentQueue<SyncSummary>();
        using var stop = new CancellationTokenSource(Bound);
        var run = new SyncDaemon(a.Context, summaries.Enqueue).RunAsync(stop.Token);
        try
        {
            await WaitUntilAsync(() => !summaries.IsEmpty, run, "the first pass");
            const int size = 64 * 1024;
            var body = TestClient.RandomBytes(size, 7);
            var header = TestClient.RandomBytes(4096, 8);
            var path = a.PathOf("db.bin");

            // A writer that maps its file (databases, VM images): set the size (one watcher event), fill every page,
            // work for 700 ms (under the 2 s stable age), then write the header into a page it already dirtied: no
            // watcher event, and no mtime change (the kernel stamps the mtime on the first write fault of a clean page).
            using (var fs = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.ReadWrite))
            {
                fs.SetLength(size);
                using var map = MemoryMappedFile.CreateFromFile(fs, null, size, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: true);
                using var view = map.CreateViewAccessor(0, size);
                view.WriteArray(0, new byte[4096], 0, 4096);
                view.WriteArray(4096, body, 4096, size - 4096);
                await Task.Delay(TimeSpan.FromMilliseconds(700));
                view.WriteArray(0, header, 0, 4096);
            }

            var final = body.ToArray();
            header.CopyTo(final, 0);
            Assert.Equal(final, await File.ReadAllBytesAsync(path));
            var finalHash = Convert.ToHexString(await HashAsync(a, final));

            // No further activity: the daemon alone must bring the final content to the server.
            await WaitUntilAsync(
                () => _server.History("db.bin") is { Count: > 0 } h && Convert.ToHexString(h[^1].ContentHash.ToByteArray()) == finalHash,
                run,
                "the final content of db.bin on the server (the header written through the mapping)",
                FollowsWithin);
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    [Fact]
    public async Task On_a_filesystem_with_one_second_mtimes_a_same_size_rewrite_within_the_second_reaches_the_server()
    {
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = SyncOptions.DefaultStableAge });
        var summaries = new ConcurrentQueue<SyncSummary>();
        using var stop = new CancellationTokenSource(Bound);
        var run = new SyncDaemon(a.Context, summaries.Enqueue).RunAsync(stop.Token);
        try
        {
            await WaitUntilAsync(() => !summaries.IsEmpty, run, "the first pass");
            var (name, second) = await WriteTwiceWithinOneSecondAsync(a, run);

            await WaitUntilAsync(
                () => _server.Current(name) is { } c && Convert.ToHexString(c.ContentHash.ToByteArray()) == second,
                run,
                "the second save on the server",
                FollowsWithin);
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    [Fact]
    public async Task A_pass_that_fails_still_rechecks_a_file_read_racily()
    {
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = SyncOptions.DefaultStableAge });
        var summaries = new ConcurrentQueue<SyncSummary>();
        using var stop = new CancellationTokenSource(Bound);
        // No periodic rescan and no remote poll within the test (the first commit's echo in the change feed would
        // otherwise ask for passes): only the re-check can bring the second save.
        var log = new ConcurrentQueue<string>();
        var ctx = new SyncContext
        {
            Folder = a.Context.Folder,
            State = a.Context.State,
            Metadata = a.Context.Metadata,
            Transfer = a.Context.Transfer,
            Chunker = a.Context.Chunker,
            Device = a.Context.Device,
            Options = a.Context.Options,
            Progress = new SyncProgress { Log = line => log.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {line}") },
        };
        var run = new SyncDaemon(ctx, summaries.Enqueue) { RescanInterval = TimeSpan.FromMinutes(10), MinPollSeconds = 120, MaxPollSeconds = 120 }.RunAsync(stop.Token);
        try
        {
            await WaitUntilAsync(() => !summaries.IsEmpty, run, "the first pass");

            // The pass the second save's watcher events start fails as a whole (the server is briefly down): the
            // re-check the first commit asked for was cancelled by it and must be asked for again.
            var (name, second) = await WriteTwiceWithinOneSecondAsync(a, run, beforeSecondSave: () =>
            {
                _server.FailPassListings = 1;
                return Task.CompletedTask;
            });
            await WaitUntilAsync(() => _server.FailPassListings == 0, run, "the failing pass");

            await WaitUntilAsync(
                () => _server.Current(name) is { } c && Convert.ToHexString(c.ContentHash.ToByteArray()) == second,
                run,
                "the second save on the server after a failed pass; the daemon's log: " + string.Join(" | ", log),
                FollowsWithin);
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    [Fact]
    public async Task A_remote_edit_after_a_racy_commit_keeps_the_newer_local_bytes_as_a_conflicted_copy()
    {
        var options = new SyncOptions { StableAge = SyncOptions.DefaultStableAge };
        using var a = new TestClient(_dir, "a", _server, options);
        using var b = new TestClient(_dir, "b", _server);
        var watched = new WatchedChanges(TimeProvider.System);
        var engine = new SyncEngine(a.Context.With(watched));
        var path = a.PathOf("notes.txt");
        var first = TestClient.RandomBytes(5000, 1);
        var second = TestClient.RandomBytes(5000, 2);
        var remote = TestClient.RandomBytes(6000, 3);

        // Saved and seen by the watcher; taken after the quiet period, well inside the stable age.
        var stamp = WholeSecond(DateTime.UtcNow);
        await File.WriteAllBytesAsync(path, first);
        File.SetLastWriteTimeUtc(path, stamp);
        watched.Saw("notes.txt");
        await Task.Delay(a.Context.Options.QuietPeriod + TimeSpan.FromMilliseconds(50));
        var pass1 = await engine.RunPassAsync(CancellationToken.None);
        Assert.Equal(1, pass1.FilesUploaded);
        Assert.True(pass1.Racy > 0, "the first save was read within the stable age: it must count as racy");

        // Saved again, same size, same whole-second mtime; meanwhile another device edits the file.
        await File.WriteAllBytesAsync(path, second);
        File.SetLastWriteTimeUtc(path, stamp);
        await b.SyncAsync();
        b.Write("notes.txt", remote);
        await b.SyncAsync();

        await engine.RunPassAsync(CancellationToken.None);

        var copies = Directory.GetFiles(a.Folder).Where(f => Path.GetFileName(f) != "notes.txt").ToList();
        var kept = copies.Select(File.ReadAllBytes).Append(await File.ReadAllBytesAsync(path)).ToList();
        Assert.Contains(kept, k => k.AsSpan().SequenceEqual(second));
    }

    [Fact]
    public async Task A_download_over_a_file_read_racily_keeps_it_unless_a_read_past_the_stable_age_proves_it_unchanged()
    {
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = SyncOptions.DefaultStableAge });
        var content = TestClient.RandomBytes(3000, 4);
        var path = a.PathOf("doc.bin");
        await File.WriteAllBytesAsync(path, content);
        var baseHash = await HashAsync(a, content);
        using var gets = new SemaphoreSlim(1);
        var downloader = new FileDownloader(a.Context, new SyncSummary(), gets, p => p + ".copy");

        // Young: nothing can prove the bytes are the synced ones, so they count as changed.
        var young = new FileInfo(path);
        var expectedYoung = new LocalEntry("doc.bin", FileKind.File, young.Length, young.LastWriteTimeUtc.Ticks, SettlesIn: null);
        Assert.True(await downloader.Placer.LocalChangedSincePlanAsync(path, expectedYoung, baseHash, CancellationToken.None));
        Assert.False(await downloader.Placer.LocalChangedSincePlanAsync(path, expectedYoung, null, CancellationToken.None));

        // Old, same bytes: proven unchanged. Old, other bytes of the same size and mtime: changed.
        var old = DateTime.UtcNow - TimeSpan.FromSeconds(10);
        File.SetLastWriteTimeUtc(path, old);
        var expectedOld = new LocalEntry("doc.bin", FileKind.File, content.Length, new FileInfo(path).LastWriteTimeUtc.Ticks, SettlesIn: null);
        Assert.False(await downloader.Placer.LocalChangedSincePlanAsync(path, expectedOld, baseHash, CancellationToken.None));
        await File.WriteAllBytesAsync(path, TestClient.RandomBytes(3000, 5));
        File.SetLastWriteTimeUtc(path, old);
        Assert.True(await downloader.Placer.LocalChangedSincePlanAsync(path, expectedOld, baseHash, CancellationToken.None));
    }

    /// <summary>
    /// Saves a file twice within one second, same size, each time stamped with the whole second (as ext3, HFS+ and
    /// many network mounts do), the second save after the daemon took the first. A loaded machine may take the first
    /// save too late in its second for the second save to share it: then again with a new file (at most 5 tries).
    /// Returns the file's name and the second save's content hash.
    /// </summary>
    private async Task<(string Name, string SecondHash)> WriteTwiceWithinOneSecondAsync(TestClient a, Task run, Func<Task>? beforeSecondSave = null)
    {
        const int Tries = 5;
        for (var attempt = 1; ; attempt++)
        {
            var name = $"notes-{attempt}.txt";
            var path = a.PathOf(name);
            var first = TestClient.RandomBytes(5000, (attempt * 10) + 1);
            var second = TestClient.RandomBytes(5000, (attempt * 10) + 2);
            var waited = Stopwatch.StartNew();
            while (DateTime.UtcNow.Millisecond > 50)
            {
                Assert.True(waited.Elapsed < TimeSpan.FromSeconds(5), "no start of a second within 5 s");
                await Task.Delay(5);
            }

            var stamp = WholeSecond(DateTime.UtcNow);
            await File.WriteAllBytesAsync(path, first);
            File.SetLastWriteTimeUtc(path, stamp);

            // The daemon takes the first content after the quiet period...
            await WaitUntilAsync(() => _server.Current(name) is not null, run, "the first content", TimeSpan.FromSeconds(10));
            var takenAt = DateTime.UtcNow;
            if (takenAt - stamp >= TimeSpan.FromMilliseconds(900))
            {
                Assert.True(attempt < Tries, $"taken {(takenAt - stamp).TotalMilliseconds:F0} ms into the second {Tries} times: inconclusive");
                continue;
            }

            // ...and the writer saves again, same size, within the same second.
            if (beforeSecondSave is not null)
            {
                await beforeSecondSave();
            }

            await File.WriteAllBytesAsync(path, second);
            File.SetLastWriteTimeUtc(path, stamp);
            return (name, Convert.ToHexString(await HashAsync(a, second)));
        }
    }

    private static DateTime WholeSecond(DateTime t) => new(t.Ticks - (t.Ticks % TimeSpan.TicksPerSecond), DateTimeKind.Utc);

    private async Task<byte[]> HashAsync(TestClient client, byte[] content)
    {
        var path = Path.Combine(_dir.CreateSub("states"), Guid.NewGuid().ToString("N"));
        await File.WriteAllBytesAsync(path, content);
        var fp = await new FileHasher(client.Context.Chunker).TryHashAsync(path, CancellationToken.None);
        return fp!.ContentHash;
    }

    private static async Task WaitUntilAsync(Func<bool> condition, Task daemon, string what, TimeSpan? bound = null)
    {
        var waited = Stopwatch.StartNew();
        while (!condition())
        {
            if (daemon.IsCompleted)
            {
                await daemon;
                Assert.Fail($"the daemon stopped before {what}");
            }

            Assert.True(waited.Elapsed < (bound ?? Bound), $"timed out after {waited.Elapsed.TotalSeconds:F1} s waiting for {what}");
            await Task.Delay(20);
        }
    }
}
