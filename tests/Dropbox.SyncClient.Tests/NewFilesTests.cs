using System.Text;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// Plain new files skip the planner and are hashed and uploaded in streamed groups (a first sync of a large tree
/// holds a path per file, not an entry, a fingerprint and an action). These check that the shortcut is taken only
/// when nothing else could happen to the file, and that it keeps every guarantee of the planned path.
/// </summary>
public sealed class NewFilesTests : IDisposable
{
    private static readonly ManualClock Clock = new();
    private static readonly DateTime Now = Clock.GetUtcNow().UtcDateTime;
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    private static NewFiles Classifier(Dictionary<string, BaseStat>? index = null, Dictionary<string, RemoteEntry>? remote = null) =>
        new(index ?? [], new RemoteView(remote ?? [], "c", FullListing: false), new Stability(Clock, TimeSpan.FromSeconds(2), null, SyncOptions.DefaultQuietPeriod));

    [Fact]
    public void Only_a_settled_untracked_file_unknown_remotely_and_of_an_untracked_size_is_taken()
    {
        var index = new Dictionary<string, BaseStat>(StringComparer.Ordinal) { ["tracked.txt"] = new BaseStat(FileKind.File, 123, 1, 1) };
        var remote = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal) { ["remote.txt"] = new RemoteEntry("remote.txt", FileKind.File, 3, false, 9, [], 0) };
        var files = Classifier(index, remote);
        var old = Now.AddMinutes(-1).Ticks;

        Assert.True(files.TryAdd("plain.txt", FileKind.File, 10, old));
        Assert.True(files.TryAdd("future.txt", FileKind.File, 11, Now.AddDays(1).Ticks)); // clock skew, not being written
        Assert.False(files.TryAdd("tracked.txt", FileKind.File, 10, old)); // has a merge base
        Assert.False(files.TryAdd("remote.txt", FileKind.File, 12, old)); // changed remotely: the planner decides
        Assert.False(files.TryAdd("same-size-as-tracked.txt", FileKind.File, 123, old)); // could be where tracked.txt moved
        Assert.False(files.TryAdd("young.txt", FileKind.File, 13, Now.AddSeconds(-1).Ticks)); // maybe still being written
        Assert.False(files.TryAdd("folder", FileKind.Folder, 0, 0));
        Assert.Equal(2, files.Count);
        Assert.Equal(21, files.Bytes);
    }

    [Fact]
    public void The_clock_is_read_only_for_a_file_the_rest_of_the_rule_takes()
    {
        var clock = new CountingClock();
        var index = new Dictionary<string, BaseStat>(StringComparer.Ordinal) { ["tracked.txt"] = new BaseStat(FileKind.File, 123, 1, 1) };
        var remote = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal) { ["remote.txt"] = new RemoteEntry("remote.txt", FileKind.File, 3, false, 9, [], 0) };
        var files = new NewFiles(index, new RemoteView(remote, "c", FullListing: false), new Stability(clock, TimeSpan.FromSeconds(2), null, SyncOptions.DefaultQuietPeriod));
        var old = clock.GetUtcNow().UtcDateTime.AddMinutes(-1).Ticks;
        var before = clock.Reads;

        // A scan finds mostly tracked files: none of these is a new-file candidate, so none reads the clock.
        Assert.False(files.TryAdd("tracked.txt", FileKind.File, 10, old));
        Assert.False(files.TryAdd("remote.txt", FileKind.File, 12, old));
        Assert.False(files.TryAdd("same-size-as-tracked.txt", FileKind.File, 123, old));
        Assert.False(files.TryAdd("folder", FileKind.Folder, 0, 0));
        Assert.Equal(before, clock.Reads);

        Assert.True(files.TryAdd("plain.txt", FileKind.File, 10, old));
        Assert.Equal(before + 1, clock.Reads);
    }

    [Fact]
    public void A_file_written_while_a_long_scan_runs_is_judged_by_the_clock_when_it_is_found()
    {
        var clock = new ManualClock();
        var files = new NewFiles([], new RemoteView([], "c", FullListing: false), new Stability(clock, TimeSpan.FromSeconds(2), null, SyncOptions.DefaultQuietPeriod));
        clock.Advance(TimeSpan.FromSeconds(6)); // the scan takes a while; a file is written late in it...
        var writtenAt = clock.GetUtcNow().UtcDateTime.AddSeconds(-0.5);

        // ...and found half a second later: young, so it waits for the stability rule, not "stamped in the future".
        Assert.False(files.TryAdd("report.pdf", FileKind.File, 1234, writtenAt.Ticks));
        clock.Advance(TimeSpan.FromSeconds(3));
        Assert.True(files.TryAdd("report.pdf", FileKind.File, 1234, writtenAt.Ticks));
    }

    [Fact]
    public void Actions_hand_out_every_file_once_as_new_uploads()
    {
        var files = Classifier();
        for (var i = 0; i < 10; i++)
        {
            Assert.True(files.TryAdd($"f{i}", FileKind.File, i, Now.AddHours(-1).Ticks));
        }

        var all = files.Actions().ToList();

        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"f{i}"), all.Select(a => a.Path));
        Assert.All(all, a =>
        {
            Assert.Equal(SyncActionKind.Upload, a.Kind);
            Assert.Equal(0UL, a.BaseVersion);
            Assert.Null(a.Fingerprint);
            Assert.Equal(a.Path, a.Local!.Path);
        });
        Assert.Equal(0, files.Count);
    }

    [Fact]
    public async Task A_held_commit_does_not_stop_later_groups_of_a_first_sync_from_planning()
    {
        // Arrange: nine groups of new files (more than the executor's old part of 2,000 files, which drained every group
        // in flight before the next part began). The eighth commit is held until a ninth group plans, or for 10 s.
        using var a = new TestClient(_dir, "a", _server);
        var groups = 9;
        var count = groups * Uploader.GroupSize;
        for (var i = 0; i < count; i++)
        {
            a.Write($"tree/d{i % 10}/f{i:D4}.txt", Encoding.UTF8.GetBytes($"file {i}"));
        }

        var plans = 0;
        var ninthPlanned = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _server.BeforePlanUploads = (_, _) =>
        {
            if (Interlocked.Increment(ref plans) == groups)
            {
                ninthPlanned.TrySetResult();
            }

            return Task.CompletedTask;
        };
        bool? plannedWhileHeld = null;
        _server.BeforeCommitFiles = async (_, call) =>
        {
            if (call == groups - 1)
            {
                plannedWhileHeld = await Task.WhenAny(ninthPlanned.Task, Task.Delay(TimeSpan.FromSeconds(10))) == ninthPlanned.Task;
            }
        };

        // Act
        var summary = await a.SyncAsync();

        // Assert: the ninth group planned while the eighth commit was held, and every file went up once.
        Assert.Equal(0, summary.Errors);
        Assert.True(plannedWhileHeld, "no group planned while the eighth commit was held: the upload drained between parts of the new files");
        Assert.Equal(count, summary.FilesUploaded);
        Assert.Equal(groups, _server.CommitFilesCalls);
        Assert.Equal(count, a.State.LoadFiles().Values.Count(f => f.Kind == FileKind.File));
    }

    [Fact]
    public async Task A_first_sync_streams_new_files_in_groups_reading_each_once_and_the_other_side_gets_every_byte()
    {
        var options = new SyncOptions { UploadGroupFiles = 7 };
        using var a = new TestClient(_dir, "a", _server, options);
        using var b = new TestClient(_dir, "b", _server);
        for (var i = 0; i < 40; i++)
        {
            a.Write($"tree/d{i % 3}/f{i}.bin", TestClient.RandomBytes(100 + i, seed: i));
        }

        a.Write("big.bin", TestClient.RandomBytes(3 << 20, seed: 99)); // over the small-file limit: the one-file path
        a.Write("empty.txt", []);

        var first = await a.SyncAsync();

        Assert.Equal(0, first.Errors);
        Assert.Equal(42, first.FilesUploaded);
        Assert.Equal(42, a.Engine.FilesHashed); // read once each
        Assert.True(_server.CommitFilesCalls >= 40 / 7, $"{_server.CommitFilesCalls} CommitFiles calls: the new files were not streamed in groups of 7");
        Assert.Equal(_server.CommitFilesCalls, _server.PlanUploadsCalls); // one plan call per group, not one per file
        Assert.Equal(0, _server.SingleFilePlans); // no small file plans alone
        Assert.True(_server.PlannedWindows >= 1, "the big file was not planned window by window as it was read");
        Assert.Equal(42, a.State.LoadFiles().Values.Count(f => f.Kind == FileKind.File));

        var again = await a.SyncAsync();
        Assert.Equal(0, again.FilesUploaded + again.FilesDownloaded + again.Errors);
        Assert.Equal(42, a.Engine.FilesHashed);

        var got = await b.SyncAsync();
        Assert.Equal(0, got.Errors);
        Assert.Equal(42, got.FilesDownloaded);
        for (var i = 0; i < 40; i++)
        {
            Assert.Equal(TestClient.RandomBytes(100 + i, seed: i), File.ReadAllBytes(b.PathOf($"tree/d{i % 3}/f{i}.bin")));
        }

        Assert.Equal(TestClient.RandomBytes(3 << 20, seed: 99), File.ReadAllBytes(b.PathOf("big.bin")));
        Assert.Equal(0, new FileInfo(b.PathOf("empty.txt")).Length);
    }

    [Fact]
    public async Task A_new_file_written_to_while_its_group_uploads_is_not_committed_and_goes_up_whole_next_pass()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("one.txt", "first file, settled");
        a.Write("two.txt", "second file, settled too");
        a.Write("three.txt", "the third one, also settled");
        foreach (var name in new[] { "one.txt", "two.txt", "three.txt" })
        {
            File.SetLastWriteTimeUtc(a.PathOf(name), DateTime.UtcNow.AddMinutes(-5));
        }

        var appended = false;
        _server.BeforePlanUpload = path =>
        {
            if (path == "two.txt" && !appended)
            {
                appended = true;
                File.AppendAllText(a.PathOf(path), " and appended while the upload was under way");
            }
        };

        var during = await a.SyncAsync(new SyncOptions { StableAge = TimeSpan.FromSeconds(2) });

        Assert.True(appended);
        Assert.Equal(0, during.Errors);
        Assert.Equal(2, during.FilesUploaded);
        Assert.Equal(1, during.Pending);
        Assert.Null(_server.Current("two.txt"));

        _server.BeforePlanUpload = null;
        var after = await a.SyncAsync();

        Assert.Equal(1, after.FilesUploaded);
        Assert.Equal((ulong)new FileInfo(a.PathOf("two.txt")).Length, _server.Current("two.txt")!.Size);
    }

    [Fact]
    public async Task A_renamed_file_is_still_a_move_when_new_files_are_streamed_in_the_same_pass()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("docs/report.bin", TestClient.RandomBytes(20_000, seed: 5));
        await a.SyncAsync();
        File.Move(a.PathOf("docs/report.bin"), a.PathOf("docs/report-final.bin"));
        a.Write("docs/notes.txt", "a new file of another size");

        var pass = await a.SyncAsync();

        Assert.Equal(0, pass.Errors);
        Assert.Equal(1, _server.Moves);
        Assert.Equal(1, pass.FilesUploaded);
        Assert.Null(_server.Current("docs/report.bin"));
        Assert.NotNull(_server.Current("docs/report-final.bin"));
        Assert.NotNull(_server.Current("docs/notes.txt"));
    }

    [Fact]
    public async Task A_first_sync_never_downloads_over_a_file_already_here_and_keeps_both()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("same.txt", "from a");
        a.Write("only-remote.txt", "only on the server");
        await a.SyncAsync();
        b.Write("same.txt", "from b, written before b's first sync");
        File.SetLastWriteTimeUtc(b.PathOf("same.txt"), DateTime.UtcNow.AddMinutes(-5));

        var first = await b.SyncAsync();

        Assert.Equal(0, first.Errors);
        Assert.Equal(1, first.Conflicts);
        Assert.Equal("from a", b.Read("same.txt"));
        Assert.Equal("only on the server", b.Read("only-remote.txt"));
        var copy = Assert.Single(Directory.GetFiles(b.Folder, "same (conflicted copy b *).txt"));
        Assert.Equal("from b, written before b's first sync", File.ReadAllText(copy));
    }

    [Fact]
    public async Task A_first_sync_reads_a_large_account_listing_page_by_page_and_gets_every_file()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        const int count = RemoteChanges.PageSize * 2 + 7;
        for (var i = 0; i < count; i++)
        {
            a.Write($"many/{i % 10}/f{i:0000}.txt", $"file number {i}");
        }

        Assert.Equal(count, (await a.SyncAsync()).FilesUploaded);
        var listingsBefore = _server.ListFilesCalls;

        var first = await b.SyncAsync();

        Assert.Equal(0, first.Errors);
        Assert.Equal(count, first.FilesDownloaded);
        Assert.Equal(3, _server.ListFilesCalls - listingsBefore);
        Assert.Equal("file number 1234", b.Read("many/4/f1234.txt"));
        var again = await b.SyncAsync();
        Assert.Equal(0, again.FilesDownloaded + again.FilesUploaded + again.Errors);
    }

    [Fact]
    public async Task A_new_file_deleted_before_its_group_uploads_is_neither_an_error_nor_committed()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("tracked.txt", "tracked");
        await a.SyncAsync();
        a.Write("tracked.txt", "tracked, then edited: a planned upload that runs before the new files");
        a.Write("doomed.txt", "new, but deleted before its turn comes");
        File.SetLastWriteTimeUtc(a.PathOf("doomed.txt"), DateTime.UtcNow.AddMinutes(-5));
        _server.BeforePlanUpload = path =>
        {
            if (path == "tracked.txt")
            {
                File.Delete(a.PathOf("doomed.txt"));
            }
        };

        var pass = await a.SyncAsync();

        Assert.False(File.Exists(a.PathOf("doomed.txt")));
        Assert.Equal(0, pass.Errors);
        Assert.Equal(1, pass.FilesUploaded);
        Assert.Null(_server.Current("doomed.txt"));
        _server.BeforePlanUpload = null;
        var next = await a.SyncAsync();
        Assert.Equal(0, next.Errors + next.FilesUploaded + next.FilesDeleted);
    }
}
