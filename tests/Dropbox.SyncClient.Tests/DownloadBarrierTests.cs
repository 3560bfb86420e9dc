using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;
using Microsoft.Win32.SafeHandles;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The grouped durability barrier of downloads: every file's bytes durable before any is renamed into place, every
/// rename durable before the batch is recorded, and a failure (or crash) at either step leaves no partial file under
/// its name and no record of a file that is not in place.
/// </summary>
public sealed class DownloadBarrierTests : IDisposable
{
    private const int FileCount = 40;
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    private static string PathOf(int i) => $"d{i % 4}/f{i:D3}.txt";

    private static string ContentOf(int i) => $"content of file {i} " + new string('x', i * 37);

    private async Task UploadManyAsync()
    {
        using var a = new TestClient(_dir, "a", _server);
        for (var i = 0; i < FileCount; i++)
        {
            a.Write(PathOf(i), ContentOf(i));
        }

        var summary = await a.SyncAsync();
        Assert.Equal(0, summary.Errors);
    }

    [Fact]
    public async Task New_files_are_durable_before_any_is_renamed_into_place_and_recorded_only_after_their_folders_are_synced()
    {
        await UploadManyAsync();
        var recorder = new RecordingBarrier();
        using var b = new TestClient(_dir, "b", _server, barrier: recorder);
        recorder.Observe = phase =>
        {
            var inPlace = Enumerable.Range(0, FileCount).Count(i => File.Exists(b.PathOf(PathOf(i))));
            var temps = Directory.GetFiles(b.Folder, IgnoreMatcher.TempPrefix + "*", SearchOption.AllDirectories).Length;
            var recorded = b.State.CountFiles();
            return $"{phase}: {inPlace} in place, {temps} temp, {recorded} recorded";
        };

        var summary = await b.SyncAsync();

        Assert.Equal(0, summary.Errors);
        Assert.Equal(FileCount, summary.FilesDownloaded);
        // One batch: all bytes synced while no file had its name yet, then the folders synced while none was recorded.
        Assert.Equal(
            [$"files (40 handles): 0 in place, {FileCount} temp, 0 recorded", $"directories (5): {FileCount} in place, 0 temp, 0 recorded"],
            recorder.Events);

        // The four new folders' own entries, and the sync folder's that holds theirs.
        Assert.Equal(new[] { b.Folder }.Concat(Enumerable.Range(0, 4).Select(i => b.PathOf($"d{i}"))).Order(StringComparer.Ordinal), recorder.DirectoriesSynced.Order(StringComparer.Ordinal));
        for (var i = 0; i < FileCount; i++)
        {
            Assert.Equal(ContentOf(i), b.Read(PathOf(i)));
        }

        Assert.Equal(FileCount, b.State.CountFiles());
    }

    [Fact]
    public async Task A_file_downloaded_alone_into_new_folders_has_each_new_folder_s_entry_synced_in_its_parent_before_it_is_recorded()
    {
        const string path = "n1/n2/n3/alone.txt";
        using (var a = new TestClient(_dir, "a", _server))
        {
            a.Write(path, "one file in three new folders");
            Assert.Equal(0, (await a.SyncAsync()).Errors);
        }

        var recorder = new RecordingBarrier();
        using var b = new TestClient(_dir, "b", _server, barrier: recorder);
        recorder.Observe = phase => $"{phase}: {b.State.CountFiles()} recorded";
        using var gets = new SemaphoreSlim(4);
        var downloader = new FileDownloader(b.Context, new SyncSummary(), gets, p => p + ".conflict");

        Assert.True((await downloader.DownloadAsync(path, null, CancellationToken.None)).Placed);

        Assert.Equal(["files (1 handles): 0 recorded", "directories (4): 0 recorded"], recorder.Events);
        Assert.Equal(new[] { b.Folder, b.PathOf("n1"), b.PathOf("n1/n2"), b.PathOf("n1/n2/n3") }.Order(StringComparer.Ordinal), recorder.DirectoriesSynced.Order(StringComparer.Ordinal));
        Assert.Equal(1, b.State.CountFiles());
    }

    [Fact]
    public async Task A_barrier_that_fails_leaves_no_file_under_its_name_no_temp_file_and_nothing_recorded_and_the_next_pass_downloads_them()
    {
        await UploadManyAsync();
        var recorder = new RecordingBarrier { FailFiles = true };
        using var b = new TestClient(_dir, "b", _server, barrier: recorder);

        var failed = await b.SyncAsync();

        Assert.Equal(FileCount, failed.Errors);
        Assert.Empty(TestClient.FilesIn(b.Folder, "*", SearchOption.AllDirectories));
        Assert.Equal(0, b.State.CountFiles());

        recorder.FailFiles = false;
        var retried = await b.SyncAsync();

        Assert.Equal(0, retried.Errors);
        Assert.Equal(FileCount, b.State.CountFiles());
        Assert.Equal(ContentOf(7), b.Read(PathOf(7)));
    }

    [Fact]
    public async Task A_crash_after_the_renames_but_before_the_folders_are_synced_records_nothing_and_the_next_pass_adopts_the_files()
    {
        await UploadManyAsync();
        var recorder = new RecordingBarrier { FailDirectories = true };
        using var b = new TestClient(_dir, "b", _server, barrier: recorder);

        var failed = await b.SyncAsync();

        // The files are whole under their names (their bytes were durable first) but the db does not claim them.
        Assert.Equal(FileCount, failed.Errors);
        Assert.Equal(0, b.State.CountFiles());
        Assert.Equal(ContentOf(3), b.Read(PathOf(3)));

        recorder.FailDirectories = false;
        var retried = await b.SyncAsync();

        Assert.Equal(0, retried.Errors);
        Assert.Equal(0, retried.Conflicts);
        Assert.Equal(FileCount, b.State.CountFiles());
        Assert.Equal(_server.Current(PathOf(3))!.Version, b.State.GetFile(PathOf(3))!.Version);
        Assert.Empty(Directory.GetFiles(b.Folder, "*conflicted copy*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_new_file_whose_chunks_a_synced_file_already_holds_is_copied_locally_not_fetched()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("x.txt", ContentOf(30));
        await a.SyncAsync();
        await b.SyncAsync();
        a.Write("copies/y.txt", ContentOf(30));
        a.Write("copies/z.txt", ContentOf(31));
        await a.SyncAsync();

        var second = await b.SyncAsync();

        Assert.Equal(0, second.Errors);
        Assert.Equal(2, second.FilesDownloaded);
        Assert.Equal(1, second.ChunksReused);
        Assert.Equal(1, second.ChunksDownloaded);
        Assert.Equal(ContentOf(30), b.Read("copies/y.txt"));
        Assert.Equal(ContentOf(31), b.Read("copies/z.txt"));
    }

    [Fact]
    public async Task Batched_plans_that_name_another_path_or_more_bytes_than_their_chunks_are_refused_and_the_rest_download()
    {
        await UploadManyAsync();
        _server.TamperPlans = plans =>
        {
            var byPath = plans.Plans.Where(p => p.Entry is not null).ToDictionary(p => p.Entry.Path);
            byPath[PathOf(0)].Entry.Path = PathOf(1); // describes another file
            byPath[PathOf(2)].Entry.Size += 1;        // more bytes than its chunks hold
        };
        using var b = new TestClient(_dir, "b", _server);

        var summary = await b.SyncAsync();

        Assert.Equal(2, summary.Errors);
        Assert.Contains(summary.ErrorMessages, m => m.Contains(PathOf(0), StringComparison.Ordinal) && m.Contains("another path", StringComparison.Ordinal));
        Assert.Contains(summary.ErrorMessages, m => m.Contains(PathOf(2), StringComparison.Ordinal) && m.Contains("add up to", StringComparison.Ordinal));
        Assert.False(File.Exists(b.PathOf(PathOf(0))));
        Assert.False(File.Exists(b.PathOf(PathOf(2))));
        Assert.Null(b.State.GetFile(PathOf(0)));
        Assert.Null(b.State.GetFile(PathOf(2)));
        Assert.Equal(ContentOf(1), b.Read(PathOf(1)));
        Assert.Equal(FileCount - 2, b.State.CountFiles());
        Assert.Empty(Directory.GetFiles(b.Folder, IgnoreMatcher.TempPrefix + "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task One_damaged_file_fails_alone_and_its_batch_is_not_asked_for_file_by_file()
    {
        await UploadManyAsync();
        _server.DamagedPaths.Add(PathOf(17));
        using var b = new TestClient(_dir, "b", _server);

        var summary = await b.SyncAsync();

        Assert.Equal(1, summary.Errors);
        Assert.Contains(summary.ErrorMessages, m => m.Contains(PathOf(17), StringComparison.Ordinal) && m.Contains("damaged", StringComparison.Ordinal));
        Assert.False(File.Exists(b.PathOf(PathOf(17))));
        Assert.Equal(FileCount - 1, b.State.CountFiles());
        Assert.Equal(ContentOf(16), b.Read(PathOf(16)));
        Assert.Equal(ContentOf(18), b.Read(PathOf(18)));

        // The batch of 40 is halved down to the damaged file: 1 + 2 per level (40 -> 20 -> 10 -> 5 -> 3 -> 2 -> 1) at
        // most, and no file is planned alone (was: the whole batch asked for again, one call per file).
        Assert.Equal(0, _server.SinglePlanCalls);
        Assert.InRange(_server.BatchPlanCalls, 2, 1 + (2 * 6));
    }

    [Fact]
    public async Task A_real_barrier_failure_of_several_folders_fails_that_batch_and_the_pass_finishes()
    {
        await UploadManyAsync();
        var missing = new[] { Path.Combine(_dir.Path, "gone1"), Path.Combine(_dir.Path, "gone2") };
        var recorder = new RecordingBarrier { Directories = _ => DurabilityBarrier.Default.FlushDirectories(missing) };
        using var b = new TestClient(_dir, "b", _server, barrier: recorder);

        var summary = await b.SyncAsync();

        Assert.Equal(FileCount, summary.Errors);
        Assert.Equal(0, b.State.CountFiles());
    }

    [Fact]
    public async Task A_file_sync_error_only_its_own_fsync_reports_after_syncfs_fails_the_batch_and_renames_nothing()
    {
        await UploadManyAsync();
        // A kernel whose syncfs does not report write-back errors (before Linux 5.8): each file's own fsync does.
        var barrier = new DurabilityBarrier(true, () => "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n", _ => true, _ => throw new IOException("simulated: write-back error"), (_, _) => { }, syncReportsErrors: false);
        using var b = new TestClient(_dir, "b", _server, barrier: barrier);

        var summary = await b.SyncAsync();

        Assert.Equal(FileCount, summary.Errors);
        Assert.Equal(0, b.State.CountFiles());
        Assert.Empty(TestClient.FilesIn(b.Folder, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_write_back_error_the_file_system_sync_reports_through_the_batch_s_mark_fails_the_batch_and_renames_nothing()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // Linux only
        }

        await UploadManyAsync();
        var barrier = new DurabilityBarrier(true, () => "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n", _ => true, _ => { }, (_, _) => throw new IOException("simulated: syncfs reports a write-back error"), syncReportsErrors: true);
        using var b = new TestClient(_dir, "b", _server, barrier: barrier);

        var summary = await b.SyncAsync();

        Assert.Equal(FileCount, summary.Errors);
        Assert.Equal(0, b.State.CountFiles());
        Assert.Empty(TestClient.FilesIn(b.Folder, "*", SearchOption.AllDirectories));
    }

    [Theory]
    [InlineData(Dropbox.Shared.Errors.ErrorKind.ResourceExhausted)]
    [InlineData(Dropbox.Shared.Errors.ErrorKind.InvalidArgument)]
    [InlineData(Dropbox.Shared.Errors.ErrorKind.Conflict)]
    public async Task A_node_that_refuses_grouped_fetches_with_any_error_does_not_stop_the_pass_the_files_come_one_chunk_at_a_time(Dropbox.Shared.Errors.ErrorKind kind)
    {
        await UploadManyAsync();
        _server.GroupedGetChunksError = kind;
        _server.TamperPlans = plans =>
        {
            // One token for every chunk (a real server's covers 16): the batch asks the node for them in one request.
            for (var t = 0; t < plans.Tokens.Count; t++)
            {
                plans.Tokens[t] = "get:shared";
            }

            foreach (var plan in plans.Plans)
            {
                for (var t = 0; t < plan.Tokens.Count; t++)
                {
                    plan.Tokens[t] = "get:shared";
                }

                foreach (var get in plan.Chunks)
                {
                    for (var t = 0; t < get.Tokens.Count; t++)
                    {
                        get.Tokens[t] = "get:shared";
                    }
                }
            }
        };
        using var b = new TestClient(_dir, "b", _server);

        var summary = await b.SyncAsync();

        Assert.True(_server.GroupedGetChunksRefused > 0);
        Assert.Equal(0, summary.Errors);
        Assert.Equal(FileCount, summary.FilesDownloaded);
        Assert.Equal(ContentOf(9), b.Read(PathOf(9)));
    }

    [Fact]
    public async Task Temp_files_left_by_a_killed_download_are_removed_at_the_next_pass_and_other_files_like_them_are_not()
    {
        await UploadManyAsync();
        using var b = new TestClient(_dir, "b", _server);
        var stale = new[] { Path.Combine(b.Folder, IgnoreMatcher.TempPrefix + Guid.NewGuid().ToString("N")), Path.Combine(b.Folder, "d1", IgnoreMatcher.TempPrefix + Guid.NewGuid().ToString("N")) };
        var notOurs = new[] { Path.Combine(b.Folder, IgnoreMatcher.TempPrefix + "notes"), Path.Combine(b.Folder, IgnoreMatcher.TempPrefix + Guid.NewGuid().ToString("N").ToUpperInvariant()) };
        Directory.CreateDirectory(Path.Combine(b.Folder, "d1"));
        foreach (var path in stale.Concat(notOurs))
        {
            File.WriteAllText(path, "half a download");
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(-5));
        }

        var summary = await b.SyncAsync();

        Assert.Equal(0, summary.Errors);
        Assert.Equal(FileCount, summary.FilesDownloaded);
        Assert.All(stale, p => Assert.False(File.Exists(p), p));
        Assert.All(notOurs, p => Assert.True(File.Exists(p), p));
    }

    [Fact]
    public async Task The_next_batch_of_small_files_fetches_only_after_the_previous_one_fetched_and_during_its_barrier_and_no_file_is_in_place_before_its_own_barrier()
    {
        const int count = BatchDownloader.MaxFiles + 40; // two batches
        using (var a = new TestClient(_dir, "a", _server))
        {
            for (var i = 0; i < count; i++)
            {
                a.Write(PathOf(i), $"small file {i}");
            }

            Assert.Equal(0, (await a.SyncAsync()).Errors);
        }

        var barrier = new OverlapBarrier();
        using var b = new TestClient(_dir, "b", _server, barrier: barrier);
        barrier.InPlace = () => Enumerable.Range(0, count).Select(PathOf).Where(p => File.Exists(b.PathOf(p))).ToHashSet(StringComparer.Ordinal);
        _server.TamperPlans = plans => barrier.Plans($"plans {plans.Plans.Count} (chunks served: {_server.ChunksServed})"); // a batch's fetch starts with its plans

        var summary = await b.SyncAsync();

        Assert.Equal(0, summary.Errors);
        Assert.Equal(count, summary.FilesDownloaded);
        Assert.Equal(count, b.State.CountFiles());
        Assert.Equal("small file 7", b.Read(PathOf(7)));
        Assert.Equal($"small file {count - 1}", b.Read(PathOf(count - 1)));

        // Batch 2 asked for its plans only after batch 1's fetch ended (every one of its 512 chunks served: one small
        // file, one chunk) and before batch 1's barrier returned: one batch fetches while the other is at its barrier,
        // never both fetching at once.
        var events = barrier.Events.Where(e => e.StartsWith("plans", StringComparison.Ordinal) || e.EndsWith("done", StringComparison.Ordinal)).ToList();
        var secondPlans = $"plans 40 (chunks served: {BatchDownloader.MaxFiles})";
        Assert.Equal([$"plans {BatchDownloader.MaxFiles} (chunks served: 0)", secondPlans], events.Where(e => e.StartsWith("plans", StringComparison.Ordinal)).ToList());
        Assert.True(events.IndexOf(secondPlans) < events.IndexOf($"files {BatchDownloader.MaxFiles} done"), string.Join(" | ", events));
        Assert.Equal(["files 40 done", $"files {BatchDownloader.MaxFiles} done"], events.Where(e => e.EndsWith("done", StringComparison.Ordinal)).Order(StringComparer.Ordinal));

        // Every barrier ran off the thread pool (a blocking fsync does not hold a thread the fetching batch needs).
        Assert.All(barrier.OnPoolThread, onPool => Assert.False(onPool));

        // At every file barrier, the files in place were exactly some of those an earlier, finished barrier made
        // durable, and none of the files this barrier is about to flush.
        Assert.Equal(2, barrier.AtFlush.Count);
        foreach (var (inPlace, flushedBefore, flushing) in barrier.AtFlush)
        {
            Assert.Empty(inPlace.Except(flushedBefore));
            Assert.Empty(inPlace.Intersect(flushing));
        }

        // Each barrier flushed exactly its own batch's files. The two barriers may overlap and either may begin first
        // (batch 2's 40 files can reach theirs before batch 1's barrier thread starts): the check above holds for both.
        Assert.Equal([40, BatchDownloader.MaxFiles], barrier.AtFlush.Select(f => f.Flushing.Count).Order());
        Assert.Equal(
            Enumerable.Range(0, count).Select(PathOf).Order(StringComparer.Ordinal),
            barrier.AtFlush[0].Flushing.Concat(barrier.AtFlush[1].Flushing).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_write_that_lands_as_a_download_takes_its_name_is_not_recorded_as_the_downloaded_bytes_and_the_next_pass_uploads_it(bool batch)
    {
        // Both ways a file comes down (a batch of small files; one file alone, as a large or many-chunk one does) share
        // SetTime and PlaceAsync.
        // The record of a download says what was written and checked (the temp file's size and time, read from its
        // handle), not what is at the name once it is there: a local write landing around the rename (the seam runs
        // just before it, the closest a test gets to "right after") must read as a local change at the next pass,
        // never as the downloaded version, or that edit would sit on this device and never be sent.
        const string path = "docs/late.txt";
        using (var a = new TestClient(_dir, "a", _server))
        {
            a.Write(path, "the downloaded bytes");
            for (var i = 0; i < 12; i++)
            {
                a.Write(PathOf(i), ContentOf(i));
            }

            Assert.Equal(0, (await a.SyncAsync()).Errors);
        }

        using var b = new TestClient(_dir, "b", _server);
        var summary = new SyncSummary();
        using var gets = new SemaphoreSlim(4);
        var downloader = new FileDownloader(b.Context, summary, gets, p => p + ".conflict");
        downloader.BeforeRename = staged =>
        {
            if (staged.Path == path)
            {
                File.AppendAllText(staged.Temp, " and a local edit");
            }

            return Task.CompletedTask;
        };
        if (batch)
        {
            var files = new List<(string, long)> { (path, 20) };
            files.AddRange(Enumerable.Range(0, 12).Select(i => (PathOf(i), (long)ContentOf(i).Length)));
            _ = await new BatchDownloader(b.Context, summary, downloader, 4).DownloadAsync(files, CancellationToken.None);
        }
        else
        {
            Assert.True((await downloader.DownloadAsync(path, null, CancellationToken.None)).Placed);
        }

        Assert.Equal(0, summary.Errors);
        Assert.Equal("the downloaded bytes and a local edit", b.Read(path));
        Assert.Equal(20, b.State.GetFile(path)!.Size);

        var next = await b.SyncAsync();

        Assert.Equal(0, next.Errors);
        Assert.Equal(1, next.FilesUploaded);
        using var c = new TestClient(_dir, "c", _server);
        Assert.Equal(0, (await c.SyncAsync()).Errors);
        Assert.Equal("the downloaded bytes and a local edit", c.Read(path));
    }

    [Fact]
    public async Task Two_names_for_one_local_file_in_two_batches_are_checked_and_renamed_one_at_a_time_so_the_second_makes_a_conflicted_copy()
    {
        // Simulated on Linux with a test seam: the same path twice, in two batches (on macOS or Windows, 'a.txt' and
        // 'A.txt' are one file). The seam holds the first rename between its check and its rename and lets the
        // second batch try to reach the same point.
        const string twice = "same/name.txt";
        using (var a = new TestClient(_dir, "a", _server))
        {
            a.Write(twice, "the file");
            for (var i = 0; i < BatchDownloader.MaxFiles; i++)
            {
                a.Write(PathOf(i), $"small file {i}");
            }

            Assert.Equal(0, (await a.SyncAsync()).Errors);
        }

        using var b = new TestClient(_dir, "b", _server);
        var summary = new SyncSummary();
        using var gets = new SemaphoreSlim(4);
        var conflicts = 0;
        var downloader = new FileDownloader(b.Context, summary, gets, p => $"{p}.conflict{Interlocked.Increment(ref conflicts)}");
        var firstHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrivals = 0;
        var bothBetweenCheckAndRename = false;
        downloader.BeforeRename = async staged =>
        {
            if (staged.Path != twice)
            {
                return;
            }

            if (Interlocked.Increment(ref arrivals) == 1)
            {
                firstHeld.TrySetResult();

                // Without one lock the second batch reaches this point too (it has only its barrier and a check to
                // pass); with it, it waits for this rename and the wait here runs out.
                bothBetweenCheckAndRename = await Task.WhenAny(secondArrived.Task, Task.Delay(TimeSpan.FromSeconds(3))) == secondArrived.Task;
            }
            else
            {
                secondArrived.TrySetResult();
            }
        };
        var files = new List<(string, long)> { (twice, 8) };
        files.AddRange(Enumerable.Range(0, BatchDownloader.MaxFiles - 1).Select(i => (PathOf(i), 16L)));
        files.Add((twice, 8)); // the first file of the second batch
        var batches = new BatchDownloader(b.Context, summary, downloader, 4);

        var copies = await batches.DownloadAsync(files, CancellationToken.None);

        Assert.True(firstHeld.Task.IsCompleted);
        Assert.False(bothBetweenCheckAndRename);
        Assert.Equal(0, summary.Errors);

        // The second saw the first in place: the first is kept as a conflicted copy (to be uploaded), not replaced.
        Assert.Equal([$"{twice}.conflict1"], copies);
        Assert.Equal("the file", b.Read(twice));
        Assert.Equal("the file", b.Read($"{twice}.conflict1"));
    }

    /// <summary>
    /// The real barrier (its mark included); the first file barrier waits (bounded) for the second batch to ask for its
    /// plans, and each file barrier notes which files were in place, which an earlier barrier had flushed, which it
    /// flushes (read from each temp file: its content names its file), and whether it ran on a thread-pool thread.
    /// </summary>
    private sealed class OverlapBarrier : IDurabilityBarrier
    {
        private readonly HashSet<string> _flushed = new(StringComparer.Ordinal);
        private int _plans;
        private int _flushes;

        public ManualResetEventSlim SecondPlans { get; } = new();

        public Func<IReadOnlySet<string>> InPlace { get; set; } = () => new HashSet<string>();

        public List<string> Events { get; } = [];

        public List<bool> OnPoolThread { get; } = [];

        public List<(IReadOnlySet<string> InPlace, IReadOnlySet<string> FlushedBefore, IReadOnlySet<string> Flushing)> AtFlush { get; } = [];

        public void Plans(string note)
        {
            Note(note);
            if (Interlocked.Increment(ref _plans) == 2)
            {
                SecondPlans.Set();
            }
        }

        public IDisposable? Mark(string folder) => DurabilityBarrier.Default.Mark(folder);

        public void FlushFiles(string folder, IReadOnlyList<SafeFileHandle> files) => FlushFiles(folder, files, null);

        public void FlushFiles(string folder, IReadOnlyList<SafeFileHandle> files, IDisposable? mark)
        {
            var flushing = files.Select(TargetOf).ToHashSet(StringComparer.Ordinal);
            lock (AtFlush)
            {
                AtFlush.Add((InPlace(), new HashSet<string>(_flushed, StringComparer.Ordinal), flushing));
                OnPoolThread.Add(Thread.CurrentThread.IsThreadPoolThread);
            }

            Note($"files {files.Count}");
            if (Interlocked.Increment(ref _flushes) == 1)
            {
                // Batch 2 is to fetch during this barrier: this waits (bounded) for its plans. A blocking wait, but on
                // the barrier's own thread, as the real barrier's fsyncs are.
                SecondPlans.Wait(TimeSpan.FromSeconds(20));
            }

            DurabilityBarrier.Default.FlushFiles(folder, files, mark);
            lock (AtFlush)
            {
                _flushed.UnionWith(flushing);
            }

            Note($"files {files.Count} done");
        }

        public void FlushDirectories(IReadOnlyCollection<string> directories) => DurabilityBarrier.Default.FlushDirectories(directories);

        private void Note(string e)
        {
            lock (Events)
            {
                Events.Add(e);
            }
        }

        /// <summary>
        /// The file a temp file is for: its content is "small file {i}", the file of <see cref="PathOf"/>(i). Read with
        /// libc's open, as .NET's own open would meet the download's exclusive advisory lock.
        /// </summary>
        private static string TargetOf(SafeFileHandle handle)
        {
            var fd = Open(System.Text.Encoding.UTF8.GetBytes($"/proc/self/fd/{handle.DangerousGetHandle()}\0"), 0);
            Assert.True(fd >= 0, "could not open the temp file to read it");
            try
            {
                var buffer = new byte[256];
                var n = (int)Read(fd, buffer, buffer.Length);
                var content = System.Text.Encoding.UTF8.GetString(buffer, 0, Math.Max(0, n));
                return PathOf(int.Parse(content["small file ".Length..], System.Globalization.CultureInfo.InvariantCulture));
            }
            finally
            {
                _ = Close(fd);
            }
        }

        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "open")]
        private static extern int Open(byte[] path, int flags);

        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "read")]
        private static extern nint Read(int fd, byte[] buffer, nint count);

        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "close")]
        private static extern int Close(int fd);
    }

    /// <summary>The real barrier, with a note of what the folder and db held at each step, and failures on demand.</summary>
    private sealed class RecordingBarrier : IDurabilityBarrier
    {
        public List<string> Events { get; } = [];

        public Func<string, string>? Observe { get; set; }

        public bool FailFiles { get; set; }

        public bool FailDirectories { get; set; }

        public Action<IReadOnlyCollection<string>>? Directories { get; set; }

        public void FlushFiles(string folder, IReadOnlyList<SafeFileHandle> files)
        {
            Note($"files ({files.Count} handles)");
            if (FailFiles)
            {
                throw new IOException("simulated: the disk refused the barrier");
            }

            DurabilityBarrier.Default.FlushFiles(folder, files);
        }

        public List<string> DirectoriesSynced { get; } = [];

        public void FlushDirectories(IReadOnlyCollection<string> directories)
        {
            Note($"directories ({directories.Count})");
            lock (Events)
            {
                DirectoriesSynced.AddRange(directories);
            }

            if (FailDirectories)
            {
                throw new IOException("simulated: the disk refused the directory sync");
            }

            (Directories ?? DurabilityBarrier.Default.FlushDirectories)(directories);
        }

        /// <summary>A batch's open folders, noted as the paths they were opened at (the same step as <see cref="FlushDirectories"/>).</summary>
        public IReadOnlyList<Exception?> FlushFolders(IReadOnlyList<FolderHandle> folders)
        {
            var paths = folders.Select(f => f.FullPath).ToList();
            Note($"directories ({paths.Count})");
            lock (Events)
            {
                DirectoriesSynced.AddRange(paths);
            }

            if (FailDirectories)
            {
                throw new IOException("simulated: the disk refused the directory sync");
            }

            if (Directories is { } directories)
            {
                directories(paths);
                return new Exception?[folders.Count];
            }

            return DurabilityBarrier.FlushEach(folders);
        }

        private void Note(string phase)
        {
            lock (Events)
            {
                Events.Add(Observe?.Invoke(phase) ?? phase);
            }
        }
    }
}
