using Dropbox.Shared.Errors;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

public sealed class SyncEngineTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task First_sync_uploads_and_the_other_client_downloads_identical_bytes()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var big = TestClient.RandomBytes(300_000, 1);
        a.Write("docs/big.bin", big);
        a.Write("hello.txt", "hello");
        a.Write("empty.txt", []);
        a.Write("ünïcödé/名前.txt", "unicode");
        Directory.CreateDirectory(a.PathOf("empty-folder"));

        var up = await a.SyncAsync();
        var down = await b.SyncAsync();

        Assert.Equal(0, up.Errors);
        Assert.Equal(4, up.FilesUploaded);
        Assert.Equal(4, down.FilesDownloaded);
        Assert.Equal(big, File.ReadAllBytes(b.PathOf("docs/big.bin")));
        Assert.Equal("hello", b.Read("hello.txt"));
        Assert.Equal(0, new FileInfo(b.PathOf("empty.txt")).Length);
        Assert.Equal("unicode", b.Read("ünïcödé/名前.txt"));
        Assert.True(Directory.Exists(b.PathOf("empty-folder")));
        Assert.Empty(Directory.GetFiles(b.Folder, IgnoreMatcher.TempPrefix + "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task The_executor_downloads_a_download_new_action_and_records_it()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("new/one.txt", "one");
        await a.SyncAsync();
        var summary = new SyncSummary();
        var remote = new RemoteView(new Dictionary<string, RemoteEntry>(StringComparer.Ordinal), string.Empty, FullListing: false);

        using (var executor = new SyncExecutor(b.Context, new FileHasher(b.Context.Chunker, b.Context.Time, b.Context.Options.StableAge), new ServerSupport(), summary, []))
        {
            await executor.ExecuteAsync([new SyncAction(SyncActionKind.DownloadNew, "new/one.txt") { Size = 3 }], remote, CancellationToken.None);
        }

        Assert.Equal(0, summary.Errors);
        Assert.Equal(1, summary.FilesDownloaded);
        Assert.Equal("one", b.Read("new/one.txt"));
        Assert.NotNull(b.State.GetFile("new/one.txt"));
    }

    [Fact]
    public async Task The_executor_refuses_a_held_plan_and_runs_none_of_it()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("kept.txt", "kept");
        await a.SyncAsync();
        var summary = new SyncSummary();
        var remote = new RemoteView(new Dictionary<string, RemoteEntry>(StringComparer.Ordinal), string.Empty, FullListing: false);
        var hold = new DeleteHold(DeleteHoldReason.MassDelete, 0, 1, 1, 0.5, "kept.txt");
        List<SyncAction> plan = [new SyncAction(SyncActionKind.DeleteRemote, "kept.txt"), new SyncAction(SyncActionKind.Hold, string.Empty) { Held = hold }];

        using (var executor = new SyncExecutor(a.Context, new FileHasher(a.Context.Chunker, a.Context.Time, a.Context.Options.StableAge), new ServerSupport(), summary, []))
        {
            var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => executor.ExecuteAsync(plan, remote, CancellationToken.None));
            Assert.Contains("held back", refused.Message, StringComparison.Ordinal);
        }

        Assert.NotNull(_server.Current("kept.txt"));
        Assert.NotNull(a.State.GetFile("kept.txt"));
    }

    [Fact]
    public async Task A_second_pass_with_nothing_changed_does_nothing_and_reads_no_file()
    {
        using var a = new TestClient(_dir, "a", _server);
        for (var i = 0; i < 20; i++)
        {
            a.Write($"f{i}.txt", $"file {i}");
        }

        await a.SyncAsync();
        var readsAfterFirst = a.Engine.FilesHashed;
        var second = await a.SyncAsync();

        Assert.Equal(20, readsAfterFirst);
        Assert.Equal(20, a.Engine.FilesHashed);
        Assert.Equal(0, second.FilesUploaded + second.FilesDownloaded + second.FilesDeleted + second.Errors);
    }

    [Fact]
    public async Task Editing_a_few_bytes_moves_only_the_changed_chunks_both_ways()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var content = TestClient.RandomBytes(2_000_000, 2);
        a.Write("large.bin", content);
        var first = await a.SyncAsync();
        await b.SyncAsync();

        content[1_000_000] ^= 0xFF;
        content[1_000_001] ^= 0xFF;
        a.Write("large.bin", content);
        var up = await a.SyncAsync();
        var down = await b.SyncAsync();

        Assert.True(first.ChunksUploaded > 20, $"expected many chunks, got {first.ChunksUploaded}");
        Assert.InRange(up.ChunksUploaded, 1, 3);
        Assert.InRange(down.ChunksDownloaded, 1, 3);
        Assert.True(down.ChunksReused > 20);
        Assert.Equal(content, File.ReadAllBytes(b.PathOf("large.bin")));
    }

    [Fact]
    public async Task A_rename_is_sent_as_a_move_and_applied_as_a_local_rename()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("old/name.bin", TestClient.RandomBytes(100_000, 3));
        await a.SyncAsync();
        await b.SyncAsync();

        Directory.CreateDirectory(a.PathOf("new"));
        File.Move(a.PathOf("old/name.bin"), a.PathOf("new/renamed.bin"));
        var up = await a.SyncAsync();
        var down = await b.SyncAsync();

        Assert.Equal(1, _server.Moves);
        Assert.Equal(1, up.FilesMoved);
        Assert.Equal(0, up.ChunksUploaded);
        Assert.Equal(1, down.FilesMoved);
        Assert.Equal(0, down.ChunksDownloaded);
        Assert.False(File.Exists(b.PathOf("old/name.bin")));
        Assert.True(File.Exists(b.PathOf("new/renamed.bin")));
    }

    [Fact]
    public async Task A_remote_move_a_full_listing_finds_is_applied_as_a_local_rename_not_a_delete_and_a_download()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("old/name.bin", TestClient.RandomBytes(100_000, 5));
        a.Write("other.bin", TestClient.RandomBytes(50_000, 6));
        await a.SyncAsync();
        await b.SyncAsync();
        Directory.CreateDirectory(a.PathOf("new"));
        File.Move(a.PathOf("old/name.bin"), a.PathOf("new/renamed.bin"));
        await a.SyncAsync();
        Assert.Equal(1, _server.Moves);

        // A listing (as after the machine slept, or a cursor the server forgot) shows the move only as a deleted path
        // and a new one with the same content.
        var listed = await b.SyncAsync(new SyncOptions { ListAll = true });

        Assert.Equal(0, listed.Errors);
        Assert.Equal(1, listed.FilesMoved);
        Assert.Equal(0, listed.FilesDownloaded);
        Assert.Equal(0, listed.FilesDeleted);
        Assert.False(File.Exists(b.PathOf("old/name.bin")));
        Assert.Equal(TestClient.RandomBytes(100_000, 5), File.ReadAllBytes(b.PathOf("new/renamed.bin")));
        Assert.False(Directory.Exists(Path.Combine(_dir.Path, "b-state", "trash")), "the moved file went to the trash");
        var again = await b.SyncAsync();
        Assert.Equal(0, again.FilesMoved + again.FilesDownloaded + again.FilesUploaded + again.FilesDeleted);
    }

    [Fact]
    public async Task A_file_edited_here_that_a_full_listing_shows_moved_away_keeps_the_edit_and_gets_the_moved_file()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("old/name.bin", TestClient.RandomBytes(100_000, 5));
        await a.SyncAsync();
        await b.SyncAsync();
        Directory.CreateDirectory(a.PathOf("new"));
        File.Move(a.PathOf("old/name.bin"), a.PathOf("new/renamed.bin"));
        await a.SyncAsync();
        b.Write("old/name.bin", TestClient.RandomBytes(90_000, 9));

        var listed = await b.SyncAsync(new SyncOptions { ListAll = true });
        await a.SyncAsync();

        Assert.Equal(0, listed.Errors);
        Assert.Equal(0, listed.FilesMoved);
        Assert.Equal(TestClient.RandomBytes(100_000, 5), File.ReadAllBytes(b.PathOf("new/renamed.bin")));
        var edits = Directory.GetFiles(b.Folder, "*", SearchOption.AllDirectories)
            .Where(f => File.ReadAllBytes(f).AsSpan().SequenceEqual(TestClient.RandomBytes(90_000, 9))).ToList();
        var kept = Assert.Single(edits);
        Assert.Equal(File.ReadAllBytes(kept), File.ReadAllBytes(a.PathOf(Path.GetRelativePath(b.Folder, kept))));
    }

    [Fact]
    public async Task A_remote_move_that_cannot_be_applied_here_makes_the_next_pass_list_everything_and_catch_up()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("a.txt", "the content that moves");
        await a.SyncAsync();
        await b.SyncAsync();
        File.Move(a.PathOf("a.txt"), a.PathOf("moved.txt"));
        await a.SyncAsync();
        Assert.Equal(1, _server.Moves);

        // Between b's scan and the local rename, something creates the destination here (the hook runs when the
        // pass reports a skipped, still-changing file, which it does before applying moves).
        b.Write("young.txt", "written just now");
        var created = false;
        var engine = b.EngineWith(new SyncOptions { StableAge = TimeSpan.FromMinutes(10) }, line =>
        {
            if (!created && line.StartsWith("skipped 'young.txt'", StringComparison.Ordinal))
            {
                created = true;
                b.Write("moved.txt", "created here meanwhile");
            }
        });

        var first = await engine.RunPassAsync(CancellationToken.None);

        Assert.True(created);
        Assert.Equal(0, first.Errors);
        Assert.Contains(first.Notes, n => n.Contains("not applied here", StringComparison.Ordinal));
        Assert.Null(b.State.GetSetting(StateKeys.Cursor));
        Assert.Equal(2, first.Pending); // young.txt and the move: a daemon re-checks soon (its remote poll waits while the cursor is cleared)

        var second = await b.SyncAsync();

        Assert.Equal(0, second.Errors);
        Assert.False(File.Exists(b.PathOf("a.txt")));
        Assert.Equal("the content that moves", b.Read("moved.txt"));
        var copy = Assert.Single(Directory.GetFiles(b.Folder, "moved (conflicted copy b *).txt"));
        Assert.Equal("created here meanwhile", File.ReadAllText(copy));
    }

    [Fact]
    public async Task A_download_under_a_file_put_at_a_path_just_moved_away_is_pending_and_the_next_pass_brings_it()
    {
        using var a = new TestClient(_dir, "a", _server);
        ChangeTimeTests.WriteSettled(a, "A", "the file A");
        ChangeTimeTests.WriteSettled(a, "keep.txt", "keep");
        await a.SyncAsync();
        using var b = new TestClient(_dir, "b", _server);
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        File.Move(a.PathOf("A"), a.PathOf("B"));
        await a.SyncAsync();
        ChangeTimeTests.WriteSettled(a, "A/x", "x in folder A");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.NotNull(_server.Current("A/x"));

        // b's user puts a file at 'A' right after b's pass moved the old one to 'B': 'A/x' cannot come down this pass.
        var put = false;
        b.State.Writer.Step = s =>
        {
            if (s == "after local move A -> B" && !put)
            {
                put = true;
                File.WriteAllText(b.PathOf("A"), "b's file put at A");
            }
        };
        var first = await b.SyncAsync();
        b.State.Writer.Step = null;

        Assert.True(put, "the step never ran");
        Assert.True(first.Errors == 0, first + " | " + string.Join(" | ", first.ErrorMessages));
        Assert.Contains(first.Notes, n => n.StartsWith("skipped 'A/x': under a file a remote move could not take from here", StringComparison.Ordinal));
        Assert.Null(b.State.GetSetting(StateKeys.Cursor)); // the next pass lists everything
        Assert.Equal(1, first.Skipped);
        Assert.Equal(1, first.Pending); // sync --once says so, and a daemon re-checks within seconds
        Assert.Contains("1 left for the next pass", first.ToString(), StringComparison.Ordinal); // not "still changing": it is not
        Assert.DoesNotContain("still changing", first.ToString(), StringComparison.Ordinal);

        var second = await b.SyncAsync();
        Assert.True(second.Errors == 0, second + " | " + string.Join(" | ", second.ErrorMessages));
        Assert.Equal(0, second.Pending);
        Assert.Equal("x in folder A", b.Read("A/x"));
        Assert.Equal("the file A", b.Read("B"));
        Assert.Contains("b's file put at A", Directory.EnumerateFiles(b.Folder).Select(File.ReadAllText));
    }

    [Fact]
    public async Task Deleting_a_folder_here_never_deletes_a_file_in_it_that_was_edited_elsewhere()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        Directory.CreateDirectory(a.PathOf("Docs"));
        await a.SyncAsync(); // the folder gets a row of its own while empty
        a.Write("Docs/plan.txt", "first draft");
        await a.SyncAsync();
        await b.SyncAsync();
        b.Write("Docs/plan.txt", "edited on b: must survive");
        await b.SyncAsync();

        Directory.Delete(a.PathOf("Docs"), recursive: true);
        var pass = await a.SyncAsync();

        Assert.Equal(0, pass.Errors);
        Assert.Equal("edited on b: must survive", a.Read("Docs/plan.txt"));
        Assert.Equal(FakeServerContent("edited on b: must survive"), _server.Current("Docs/plan.txt")?.Size);
        var back = await b.SyncAsync();
        Assert.Equal(0, back.FilesDeleted);
        Assert.Equal("edited on b: must survive", b.Read("Docs/plan.txt"));

        static ulong FakeServerContent(string text) => (ulong)System.Text.Encoding.UTF8.GetByteCount(text);
    }

    [Fact]
    public async Task A_remote_edit_that_waits_for_a_local_file_to_settle_is_still_applied_once_it_has()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("shared.txt", "base");
        await a.SyncAsync();
        await b.SyncAsync();
        a.Write("shared.txt", "edited on a");
        await a.SyncAsync();

        File.SetLastWriteTimeUtc(b.PathOf("shared.txt"), DateTime.UtcNow); // touched here, same bytes: "changing" for a while
        var waiting = await b.SyncAsync(new SyncOptions { StableAge = TimeSpan.FromMinutes(10) });
        Assert.Equal(1, waiting.Pending);
        Assert.Equal("base", b.Read("shared.txt"));

        var settled = await b.SyncAsync(); // the same bytes as synced: the remote edit applies

        Assert.Equal(0, settled.Errors + settled.Conflicts);
        Assert.Equal("edited on a", b.Read("shared.txt"));
    }

    [Fact]
    public async Task A_conflicted_copy_written_to_just_before_it_is_set_aside_goes_up_with_its_newest_bytes()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        using var c = new TestClient(_dir, "c", _server);
        a.Write("s.txt", "base text 11");
        await a.SyncAsync();
        await b.SyncAsync();
        b.Write("other.txt", "BBBB from b!"); // its chunks are on the server: the stale plan needs no put
        await b.SyncAsync();
        a.Write("s.txt", "AAAA from a!");
        await a.SyncAsync();

        b.Write("s.txt", "BBBB from b!");
        File.SetLastWriteTimeUtc(b.PathOf("s.txt"), DateTime.UtcNow.AddMinutes(-5));
        b.Write("young.txt", "written just now"); // its skip is reported before the conflict runs
        var engine = b.EngineWith(new SyncOptions { StableAge = TimeSpan.FromMinutes(1) }, line =>
        {
            if (line.StartsWith("skipped 'young.txt'", StringComparison.Ordinal))
            {
                b.Write("s.txt", "CCCC from b!"); // same size, after the plan read it
                File.SetLastWriteTimeUtc(b.PathOf("s.txt"), DateTime.UtcNow.AddMinutes(-3));
            }
        });

        var pass = await engine.RunPassAsync(CancellationToken.None);

        Assert.Equal(1, pass.Conflicts);
        Assert.Equal("AAAA from a!", b.Read("s.txt"));
        var copy = Path.GetFileName(Assert.Single(Directory.GetFiles(b.Folder, "s (conflicted copy b *).txt")));
        Assert.Equal("CCCC from b!", b.Read(copy));
        await c.SyncAsync();
        Assert.Equal("CCCC from b!", c.Read(copy));
    }

    [Fact]
    public async Task A_delete_propagates_and_restore_brings_the_file_back()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("gone.txt", "precious");
        a.Write("stays.txt", "so the folder is not emptied (an empty folder deletes nothing unconfirmed)");
        await a.SyncAsync();
        await b.SyncAsync();

        File.Delete(a.PathOf("gone.txt"));
        var up = await a.SyncAsync();
        var down = await b.SyncAsync();
        Assert.Equal(1, up.FilesDeleted);
        Assert.Equal(1, down.FilesDeleted);
        Assert.False(File.Exists(b.PathOf("gone.txt")));

        await _server.RestoreAsync(new() { Path = "gone.txt" }, CancellationToken.None);
        var restored = await b.SyncAsync();
        Assert.Equal(1, restored.FilesDownloaded);
        Assert.Equal("precious", b.Read("gone.txt"));
    }

    [Fact]
    public async Task Concurrent_edits_keep_both_and_the_loser_becomes_a_conflicted_copy()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("shared.txt", "base");
        await a.SyncAsync();
        await b.SyncAsync();

        a.Write("shared.txt", "edit from a");
        b.Write("shared.txt", "edit from b, longer");
        await a.SyncAsync();
        var second = await b.SyncAsync();
        await a.SyncAsync();

        Assert.Equal(1, second.Conflicts);
        Assert.Equal("edit from a", b.Read("shared.txt"));
        var copy = Assert.Single(Directory.GetFiles(b.Folder, "shared (conflicted copy b *).txt"));
        Assert.Equal("edit from b, longer", File.ReadAllText(copy));
        Assert.Equal("edit from b, longer", File.ReadAllText(Assert.Single(Directory.GetFiles(a.Folder, "shared (conflicted copy b *).txt"))));
        Assert.Equal("edit from a", a.Read("shared.txt"));
    }

    [Fact]
    public async Task An_interrupted_upload_resumes_with_only_the_missing_chunks()
    {
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { Parallelism = 1, PutBatchChunks = 4 });
        a.Write("big.bin", TestClient.RandomBytes(1_500_000, 4));
        _server.FailPutsAfter = 20;

        var failed = await a.SyncAsync();
        Assert.Equal(1, failed.Errors);
        Assert.Equal(20, _server.ChunksPut);
        Assert.Single(a.State.Uploads.Pending());

        _server.FailPutsAfter = null;
        var resumed = await a.SyncAsync();

        Assert.Equal(0, resumed.Errors);
        Assert.Equal(1, resumed.FilesUploaded);
        Assert.True(resumed.ChunksDeduplicated >= 20);
        Assert.Equal(_server.ChunksPut, 20 + resumed.ChunksUploaded);
        Assert.Empty(a.State.Uploads.Pending());
    }

    [Fact]
    public async Task A_pass_that_would_delete_most_files_stops_until_allowed()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        for (var i = 0; i < 12; i++)
        {
            a.Write($"f{i}.txt", $"file {i}");
        }

        await a.SyncAsync();
        await b.SyncAsync();
        foreach (var f in TestClient.FilesIn(a.Folder))
        {
            File.Delete(f);
        }

        var stop = await Assert.ThrowsAsync<DropboxException>(() => a.SyncAsync());
        Assert.True(stop.Details.ContainsKey(MassDeleteGuard.DetailKey));
        Assert.Equal(12, (await _server.ListFilesAsync(new(), CancellationToken.None)).Entries.Count);

        var allowed = await a.SyncAsync(new SyncOptions { AllowMassDelete = true });
        Assert.Equal(12, allowed.FilesDeleted);
    }

    [Fact]
    public async Task A_missing_sync_folder_is_an_error_never_a_mass_delete()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("keep.txt", "keep");
        await a.SyncAsync();
        Directory.Delete(a.Folder, recursive: true);

        var error = await Assert.ThrowsAsync<DropboxException>(() => a.SyncAsync(new SyncOptions { AllowMassDelete = true }));

        Assert.Equal(ErrorKind.NotFound, error.Kind);
        Assert.Contains("missing", error.Message, StringComparison.Ordinal);
        Assert.NotNull(_server.Current("keep.txt"));
    }

    [Fact]
    public async Task Ignored_and_temporary_files_do_not_sync()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write(".dropboxignore", "build/\n*.log\n!keep.log\n");
        a.Write("build/out.bin", "x");
        a.Write("debug.log", "x");
        a.Write("keep.log", "x");
        a.Write("~$report.docx", "x");
        a.Write(".report.txt.swp", "x");
        a.Write("real.txt", "x");

        await a.SyncAsync();

        Assert.NotNull(_server.Current("real.txt"));
        Assert.NotNull(_server.Current("keep.log"));
        Assert.NotNull(_server.Current(".dropboxignore"));
        Assert.Null(_server.Current("build/out.bin"));
        Assert.Null(_server.Current("debug.log"));
        Assert.Null(_server.Current("~$report.docx"));
        Assert.Null(_server.Current(".report.txt.swp"));
    }

    [Fact]
    public async Task A_remote_delete_of_a_locally_edited_file_keeps_the_edit()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("doc.txt", "v1");
        a.Write("stays.txt", "so the folder is not emptied (an empty folder deletes nothing unconfirmed)");
        await a.SyncAsync();
        await b.SyncAsync();

        File.Delete(a.PathOf("doc.txt"));
        await a.SyncAsync();
        b.Write("doc.txt", "v2 edited offline");
        var result = await b.SyncAsync();

        Assert.Equal(0, result.Errors);
        Assert.Equal("v2 edited offline", b.Read("doc.txt"));
        Assert.NotNull(_server.Current("doc.txt"));
    }

    [Fact]
    public async Task Reconcile_repairs_a_db_that_diverged_from_the_folder()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("same-size.txt", "aaaa");
        await a.SyncAsync();
        var full = a.PathOf("same-size.txt");
        var mtime = File.GetLastWriteTimeUtc(full);
        File.WriteAllText(full, "bbbb");
        File.SetLastWriteTimeUtc(full, mtime);
        // A row whose ctime is unknown (kept by a build before the ctime was): size and mtime alone cannot tell this
        // edit (a known ctime would; see ChangeTimeTests), so only a reconcile, which reads every file, finds it.
        a.State.TouchFile("same-size.txt", a.State.GetFile("same-size.txt")!.MtimeTicks, null);

        var normal = await a.SyncAsync();
        var reconcile = await a.SyncAsync(new SyncOptions { Reconcile = true });

        Assert.Equal(0, normal.FilesUploaded);
        Assert.Equal(1, reconcile.FilesUploaded);
        Assert.True(reconcile.Repairs >= 1);
    }

    [Fact]
    public async Task Case_clashing_new_names_are_both_kept_the_later_in_ordinal_order_renamed_to_a_case_conflict_name()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("Readme.txt", "one");
        a.Write("README.txt", "two");

        var result = await a.SyncAsync();

        Assert.Equal(0, result.Errors);
        Assert.Equal(2, result.FilesUploaded);
        Assert.Contains(result.Notes, n => n.Contains("case conflict", StringComparison.Ordinal));
        Assert.Equal("two", a.Read("README.txt"));
        Assert.Equal("one", a.Read("Readme (Case Conflict).txt"));
        Assert.False(File.Exists(a.PathOf("Readme.txt")));
        Assert.NotNull(_server.Current("README.txt"));
        Assert.NotNull(_server.Current("Readme (Case Conflict).txt"));
    }

    [Fact]
    public async Task A_synced_file_that_meets_a_case_clash_keeps_its_name_and_the_new_name_is_renamed()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("notes.txt", "synced first");
        await a.SyncAsync();
        a.Write("Notes.txt", "created later, differs only in case");

        // "Notes.txt" comes first in ordinal order, yet the synced name wins.
        var pass = await a.SyncAsync();

        Assert.Equal(0, pass.Errors + pass.FilesDeleted);
        Assert.Contains(pass.Notes, n => n.Contains("case conflict", StringComparison.Ordinal));
        Assert.NotNull(_server.Current("notes.txt"));
        Assert.Equal("synced first", a.Read("notes.txt"));
        Assert.Equal("created later, differs only in case", a.Read("Notes (Case Conflict).txt"));
        Assert.NotNull(_server.Current("Notes (Case Conflict).txt"));
    }

    [Fact]
    public async Task A_case_only_rename_elsewhere_meeting_an_edit_here_keeps_both_and_later_edits_sync()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("img.dat", "original");
        await a.SyncAsync();
        await b.SyncAsync();
        // A, as a case-insensitive device would, changes only the case of the name; B appends meanwhile.
        File.Move(a.PathOf("img.dat"), a.PathOf("Img.dat"));
        await a.SyncAsync();
        File.AppendAllText(b.PathOf("img.dat"), " + B's first edit");

        var first = await b.SyncAsync();
        File.AppendAllText(b.PathOf("img (Case Conflict).dat"), " + B's second edit");
        var second = await b.SyncAsync();
        await a.SyncAsync();

        Assert.Equal(0, first.Errors + second.Errors);
        Assert.Equal("original", b.Read("Img.dat"));
        Assert.False(File.Exists(b.PathOf("img.dat")), "B holds both names, which a case-insensitive device cannot");
        Assert.Equal("original + B's first edit + B's second edit", a.Read("img (Case Conflict).dat"));
        Assert.Equal("original", a.Read("Img.dat"));
        Assert.Null(_server.Current("img.dat"));
    }

    [Fact]
    public async Task A_remote_edit_skipped_while_its_folder_was_a_symbolic_link_applies_later_even_behind_a_thousand_names_that_sort_before_it()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("docs/a", "old content");
        a.Write("other.txt", "x");
        await a.SyncAsync();
        for (var i = 0; i < 1001; i++)
        {
            // Capitalised names sort before "a": a listing from "docs/" on reads past all of them first.
            await _server.CreateFolderAsync(new Dropbox.Shared.Protos.Metadata.CreateFolderRequest { Path = $"docs/A{i:D4}", Device = "a" }, CancellationToken.None);
        }

        await a.SyncAsync();
        await b.SyncAsync();
        var elsewhere = Path.Combine(_dir.CreateSub("elsewhere"), "docs");
        Directory.Move(b.PathOf("docs"), elsewhere);
        Directory.CreateSymbolicLink(b.PathOf("docs"), elsewhere);
        a.Write("docs/a", "new content");
        await a.SyncAsync();

        var skipped = await b.SyncAsync();
        Directory.Delete(b.PathOf("docs"));
        Directory.Move(elsewhere, b.PathOf("docs"));
        a.Write("other.txt", "a later change, so the cursor moves on");
        await a.SyncAsync();
        await b.SyncAsync();
        var last = await b.SyncAsync();

        Assert.Equal(0, skipped.Errors + last.Errors);
        Assert.Equal("new content", b.Read("docs/a"));
        Assert.Empty(b.State.Withheld.Load());
    }

    [Fact]
    public async Task A_remembered_remote_file_meeting_the_same_file_made_here_meanwhile_makes_no_conflicted_copy()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("d/keep.txt", "k");
        a.Write("other.txt", "x");
        await a.SyncAsync();
        await b.SyncAsync();
        var elsewhere = Path.Combine(_dir.CreateSub("elsewhere"), "d");
        Directory.Move(b.PathOf("d"), elsewhere);
        Directory.CreateSymbolicLink(b.PathOf("d"), elsewhere);
        a.Write("d/new.txt", "same content on both");
        await a.SyncAsync();

        var skipped = await b.SyncAsync(); // withheld here: remembered
        Directory.Delete(b.PathOf("d"));
        Directory.Move(elsewhere, b.PathOf("d"));
        b.Write("d/new.txt", "same content on both"); // the user copied the same file in meanwhile
        File.SetLastWriteTimeUtc(b.PathOf("d/new.txt"), DateTime.UtcNow.AddHours(-1));
        var last = await b.SyncAsync();
        await b.SyncAsync();

        Assert.Equal(0, skipped.Errors + last.Errors);
        Assert.Equal("same content on both", b.Read("d/new.txt"));
        Assert.Equal(["d/keep.txt", "d/new.txt", "other.txt"], Directory.EnumerateFiles(b.Folder, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(b.Folder, f).Replace('\\', '/')).Where(f => !f.StartsWith('.')).Order(StringComparer.Ordinal));
        var listing = await _server.ListFilesAsync(new Dropbox.Shared.Protos.Metadata.ListFilesRequest(), CancellationToken.None);
        Assert.Equal(["d/keep.txt", "d/new.txt", "other.txt"], listing.Entries.Where(e => e.Kind == Dropbox.Shared.Protos.Metadata.EntryKind.File).Select(e => e.Path).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_remote_delete_skipped_while_its_folder_was_a_symbolic_link_here_applies_once_the_folder_is_back()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("d/f.txt", "old content");
        a.Write("other.txt", "x");
        await a.SyncAsync();
        await b.SyncAsync();
        // B moves the folder elsewhere and leaves a link in its place: withheld, nothing under it is synced.
        var elsewhere = Path.Combine(_dir.CreateSub("elsewhere"), "d");
        Directory.Move(b.PathOf("d"), elsewhere);
        Directory.CreateSymbolicLink(b.PathOf("d"), elsewhere);
        File.Delete(a.PathOf("d/f.txt"));
        await a.SyncAsync();

        var skipped = await b.SyncAsync();
        Directory.Delete(b.PathOf("d"));
        Directory.Move(elsewhere, b.PathOf("d"));
        a.Write("other.txt", "a later change, so the cursor moves on");
        await a.SyncAsync();
        await b.SyncAsync();
        var last = await b.SyncAsync();

        Assert.Equal(0, skipped.Errors + last.Errors);
        Assert.False(File.Exists(b.PathOf("d/f.txt")), "B keeps 'd/f.txt', which A deleted");
        Assert.Null(_server.Current("d/f.txt"));
        Assert.Empty(b.State.Withheld.Load());
    }

    [Fact]
    public async Task Many_small_files_are_committed_in_batches_and_a_conflict_among_them_still_resolves()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        for (var i = 0; i < 300; i++)
        {
            a.Write($"d{i % 7}/f{i:000}.txt", $"small file {i}");
        }

        var up = await a.SyncAsync();
        Assert.Equal(300, up.FilesUploaded);
        Assert.InRange(_server.CommitFilesCalls, 1, 3);
        Assert.Equal(300, (await b.SyncAsync()).FilesDownloaded);

        a.Write("d0/f000.txt", "edit a");
        a.Write("d1/f001.txt", "edit a too");
        b.Write("d0/f000.txt", "edit b");
        b.Write("d2/f002.txt", "edit b too");
        await a.SyncAsync();
        var second = await b.SyncAsync();

        Assert.Equal(0, second.Errors);
        Assert.Equal(1, second.Conflicts);
        Assert.Equal("edit a", b.Read("d0/f000.txt"));
        Assert.Equal("edit a too", b.Read("d1/f001.txt"));
        Assert.Single(Directory.GetFiles(b.PathOf("d0"), "f000 (conflicted copy b *).txt"));
        await a.SyncAsync();
        Assert.Equal("edit b too", a.Read("d2/f002.txt"));
    }

    [Fact]
    public async Task A_file_written_moments_ago_waits_for_a_later_pass_when_a_stable_age_is_set()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("fresh.txt", "still being written");

        var waiting = await a.SyncAsync(new SyncOptions { StableAge = TimeSpan.FromHours(1) });
        Assert.Equal(1, waiting.Pending);
        Assert.Equal(0, waiting.FilesUploaded);
        Assert.Null(_server.Current("fresh.txt"));

        var later = await a.SyncAsync();
        Assert.Equal(1, later.FilesUploaded);
    }

    [Fact]
    public async Task After_a_no_op_pass_an_edit_that_keeps_the_size_is_still_uploaded()
    {
        using var a = new TestClient(_dir, "a", _server);
        for (var i = 0; i < 20; i++)
        {
            a.Write($"dir{i % 3}/f{i}.txt", $"file {i:D2}");
        }

        await a.SyncAsync();
        await a.SyncAsync();
        var full = a.PathOf("dir1/f4.txt");
        var before = File.GetLastWriteTimeUtc(full);
        File.WriteAllText(full, "FILE 04");
        File.SetLastWriteTimeUtc(full, before.AddMinutes(1));

        var pass = await a.SyncAsync();

        Assert.Equal(1, pass.FilesUploaded);
        Assert.Equal(0, pass.Errors);
        Assert.Equal(7UL, _server.Current("dir1/f4.txt")!.Size);
        Assert.Equal(File.GetLastWriteTimeUtc(full).Ticks, a.State.GetFile("dir1/f4.txt")!.MtimeTicks);
    }

    [Fact]
    public async Task A_remote_edit_of_a_file_unchanged_here_is_downloaded_and_nothing_else_is_read()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        for (var i = 0; i < 20; i++)
        {
            a.Write($"f{i}.txt", $"file {i}");
        }

        await a.SyncAsync();
        await b.SyncAsync();
        await b.SyncAsync();
        a.Write("f7.txt", "edited remotely");
        await a.SyncAsync();
        var readsBefore = b.Engine.FilesHashed;

        var pass = await b.SyncAsync();

        Assert.Equal(1, pass.FilesDownloaded);
        Assert.Equal(0, pass.FilesUploaded + pass.Errors);
        Assert.Equal("edited remotely", b.Read("f7.txt"));
        Assert.Equal(readsBefore, b.Engine.FilesHashed);
    }

    [Fact]
    public async Task After_a_no_op_pass_a_file_deleted_here_is_deleted_remotely()
    {
        using var a = new TestClient(_dir, "a", _server);
        for (var i = 0; i < 20; i++)
        {
            a.Write($"f{i}.txt", $"file {i}");
        }

        await a.SyncAsync();
        await a.SyncAsync();
        File.Delete(a.PathOf("f3.txt"));

        var pass = await a.SyncAsync();

        Assert.Equal(1, pass.FilesDeleted);
        Assert.Null(_server.Current("f3.txt"));
        Assert.NotNull(_server.Current("f4.txt"));
        Assert.Null(a.State.GetFile("f3.txt"));
    }
}
