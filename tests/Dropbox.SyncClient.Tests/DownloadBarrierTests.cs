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
            [$"files (40 handles): 0 in place, {FileCount} temp, 0 recorded", $"directories (4): {FileCount} in place, 0 temp, 0 recorded"],
            recorder.Events);
        for (var i = 0; i < FileCount; i++)
        {
            Assert.Equal(ContentOf(i), b.Read(PathOf(i)));
        }

        Assert.Equal(FileCount, b.State.CountFiles());
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
    public async Task The_next_batch_of_small_files_is_fetched_while_the_previous_one_is_at_its_barrier_and_no_file_is_in_place_before_its_own_barrier()
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
        barrier.InPlace = () => Directory.GetFiles(b.Folder, "f*.txt", SearchOption.AllDirectories).Length;

        var summary = await b.SyncAsync();

        Assert.Equal(0, summary.Errors);
        Assert.Equal(count, summary.FilesDownloaded);
        Assert.Equal(count, b.State.CountFiles());
        Assert.Equal("small file 7", b.Read(PathOf(7)));
        Assert.Equal($"small file {count - 1}", b.Read(PathOf(count - 1)));

        // The second batch began (its mark taken, its plans asked for) before the first one's barrier returned...
        Assert.True(barrier.NextBatchStartedDuringFirstBarrier);

        // ...and at every barrier, no file was in place that an earlier, finished barrier had not made durable.
        Assert.Equal(2, barrier.AtFlush.Count);
        Assert.All(barrier.AtFlush, at => Assert.True(at.InPlace <= at.FlushedBefore, $"{at.InPlace} files in place, {at.FlushedBefore} flushed"));
    }

    /// <summary>
    /// The real barrier; the first file barrier waits (bounded) for a second batch to take its mark, and each notes how
    /// many files were in place and how many an earlier barrier had flushed.
    /// </summary>
    private sealed class OverlapBarrier : IDurabilityBarrier
    {
        private readonly TaskCompletionSource _secondMark = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _marks;
        private int _flushes;
        private int _flushed;

        public Func<int> InPlace { get; set; } = () => 0;

        public bool NextBatchStartedDuringFirstBarrier { get; private set; }

        public List<(int InPlace, int FlushedBefore)> AtFlush { get; } = [];

        public IDisposable? Mark(string folder)
        {
            if (Interlocked.Increment(ref _marks) >= 2)
            {
                _secondMark.TrySetResult();
            }

            return null;
        }

        public void FlushFiles(string folder, IReadOnlyList<SafeFileHandle> files)
        {
            lock (AtFlush)
            {
                AtFlush.Add((InPlace(), Volatile.Read(ref _flushed)));
            }

            if (Interlocked.Increment(ref _flushes) == 1)
            {
                // Without overlapping batches the second mark comes only after this batch ends: the wait runs out.
                NextBatchStartedDuringFirstBarrier = _secondMark.Task.Wait(TimeSpan.FromSeconds(20));
            }

            DurabilityBarrier.Default.FlushFiles(folder, files);
            Interlocked.Add(ref _flushed, files.Count);
        }

        public void FlushDirectories(IReadOnlyCollection<string> directories) => DurabilityBarrier.Default.FlushDirectories(directories);
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

        public void FlushDirectories(IReadOnlyCollection<string> directories)
        {
            Note($"directories ({directories.Count})");
            if (FailDirectories)
            {
                throw new IOException("simulated: the disk refused the directory sync");
            }

            (Directories ?? DurabilityBarrier.Default.FlushDirectories)(directories);
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
