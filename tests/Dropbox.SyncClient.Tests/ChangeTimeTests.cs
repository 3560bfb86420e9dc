using System.Diagnostics;
using System.Text;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;
using Microsoft.Data.Sqlite;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The ctime in the "unchanged" test: a synced file rewritten in place with its size kept and its mtime put back
/// (<c>cp -p</c> of a same-size file over it, <c>touch -r</c>, tools that restore timestamps) is seen by its moved ctime,
/// read, and its bytes decide; a ctime moved with the bytes unchanged (a chmod, a touch to the same time) costs one read
/// and no upload. Real files, the real engine, a <see cref="FakeServer"/>.
/// </summary>
public sealed class ChangeTimeTests : IDisposable
{
    internal static readonly DateTime OldMtime = new(2024, 5, 6, 7, 8, 9, DateTimeKind.Utc);

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_same_size_edit_with_its_mtime_put_back_is_uploaded_by_the_next_pass()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // the ctime is read with statx (elsewhere the unchanged test is size and mtime, as before)
        }

        using var a = new TestClient(_dir, "a", _server);
        WriteSettled(a, "f.txt", "first version");
        Assert.Equal(1, (await a.SyncAsync()).FilesUploaded);

        var edited = "FIRST VERSION";
        RewriteInPlaceKeepingMtime(a, "f.txt", edited);
        var pass = await a.SyncAsync();

        Assert.Equal(1, pass.FilesUploaded);
        Assert.Equal(0, pass.Conflicts);
        using var b = new TestClient(_dir, "b", _server);
        await b.SyncAsync();
        Assert.Equal(edited, b.Read("f.txt"));
    }

    [Fact]
    public async Task A_same_size_edit_with_its_mtime_put_back_is_never_overwritten_by_a_later_remote_edit()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // the ctime is read with statx (elsewhere the unchanged test is size and mtime, as before)
        }

        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        WriteSettled(a, "f.txt", "shared text");
        await a.SyncAsync();
        await b.SyncAsync();
        Assert.Equal("shared text", b.Read("f.txt"));

        // A's edit, not yet synced; then B's edit reaches the server first.
        const string mine = "SHARED TEXT";
        RewriteInPlaceKeepingMtime(a, "f.txt", mine);
        b.Write("f.txt", "edited on b, longer");
        Assert.Equal(1, (await b.SyncAsync()).FilesUploaded);

        await a.SyncAsync();

        // A's bytes are still on A (at the name or as a conflicted copy), and B's arrived beside them.
        var contents = TestClient.FilesIn(a.Folder).Select(File.ReadAllText).ToList();
        Assert.Contains(mine, contents);
        Assert.Contains("edited on b, longer", contents);
    }

    [Fact]
    public async Task A_same_size_edit_with_its_mtime_put_back_is_not_moved_under_the_old_content_by_a_remote_rename()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        WriteSettled(a, "old-name.txt", "moved text");
        await a.SyncAsync();
        await b.SyncAsync();

        const string mine = "MOVED TEXT";
        RewriteInPlaceKeepingMtime(a, "old-name.txt", mine);
        File.Move(b.PathOf("old-name.txt"), b.PathOf("new-name.txt"));
        Assert.Equal(1, (await b.SyncAsync()).FilesMoved);

        await a.SyncAsync();
        await b.SyncAsync();

        // A's edit left A: B has it (under some name), and B's rename arrived on A.
        Assert.Contains(mine, TestClient.FilesIn(b.Folder).Select(File.ReadAllText));
        Assert.Equal("moved text", a.Read("new-name.txt"));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_moved_ctime_with_the_same_bytes_costs_one_read_no_upload_and_the_pass_after_reads_nothing()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // the ctime is read with statx (elsewhere the unchanged test is size and mtime, as before)
        }

        using var a = new TestClient(_dir, "a", _server);
        WriteSettled(a, "chmod.txt", "same bytes 1");
        WriteSettled(a, "touch.txt", "same bytes 2");
        await a.SyncAsync();
        var readsAfterSync = a.Engine.FilesHashed;
        var versions = (_server.History("chmod.txt").Count, _server.History("touch.txt").Count);

        // A chmod that leaves the owner's executable bit alone, and a touch to the very mtime the file has: both move
        // the ctime only.
        var chmod = a.PathOf("chmod.txt");
        MoveCtime(chmod, () => File.SetUnixFileMode(chmod, File.GetUnixFileMode(chmod) ^ UnixFileMode.OtherRead));
        var touch = a.PathOf("touch.txt");
        MoveCtime(touch, () => File.SetLastWriteTimeUtc(touch, OldMtime));
        var pass = await a.SyncAsync();

        Assert.Equal(readsAfterSync + 2, a.Engine.FilesHashed);
        Assert.Equal(0, pass.FilesUploaded + pass.FilesDownloaded + pass.Conflicts + pass.Errors);
        Assert.Equal(versions, (_server.History("chmod.txt").Count, _server.History("touch.txt").Count));
        Assert.Equal(FileChangeTime.TryGet(chmod), a.State.GetFile("chmod.txt")!.ChangeTimeNs);
        Assert.Equal(FileChangeTime.TryGet(touch), a.State.GetFile("touch.txt")!.ChangeTimeNs);

        var after = await a.SyncAsync();
        Assert.Equal(readsAfterSync + 2, a.Engine.FilesHashed);
        Assert.Equal(0, after.FilesUploaded + after.FilesDownloaded + after.Errors);
    }

    [Fact]
    public async Task A_download_an_upload_and_a_verified_read_record_the_files_ctime()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // the ctime is read with statx (elsewhere the unchanged test is size and mtime, as before)
        }

        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        WriteSettled(a, "up.txt", "uploaded");
        await a.SyncAsync();
        await b.SyncAsync();

        Assert.Equal(FileChangeTime.TryGet(a.PathOf("up.txt")), a.State.GetFile("up.txt")!.ChangeTimeNs);
        Assert.Equal(FileChangeTime.TryGet(b.PathOf("up.txt")), b.State.GetFile("up.txt")!.ChangeTimeNs);
    }

    [Fact]
    public void A_db_from_before_the_ctime_column_opens_with_every_ctime_unknown_and_then_keeps_it()
    {
        var path = Path.Combine(_dir.Path, LocalState.DatabaseFileName);
        using (var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString()))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = """
                CREATE TABLE files(path TEXT PRIMARY KEY, kind INTEGER NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL,
                    version INTEGER NOT NULL, hash BLOB NOT NULL, chunks BLOB NOT NULL, exec_bit INTEGER);
                INSERT INTO files VALUES('old.txt', 0, 3, 5, 7, x'00', x'', 0);
                """;
            cmd.ExecuteNonQuery();
        }

        using (var state = LocalState.Open(_dir.Path))
        {
            Assert.Null(state.GetFile("old.txt")!.ChangeTimeNs);
            Assert.Null(state.LoadFiles()["old.txt"].ChangeTimeNs);
            Assert.Equal(0, state.LoadBaseIndex()["old.txt"].ChangeTimeNs);
            state.PutFile(new FileRecord("new.txt", FileKind.File, 3, 5, 8, [1]) { ChangeTimeNs = 1_700_000_000_123_456_789 }, null);
        }

        using var reopened = LocalState.Open(_dir.Path);
        Assert.Equal(1_700_000_000_123_456_789, reopened.GetFile("new.txt")!.ChangeTimeNs);
        Assert.Equal(1_700_000_000_123_456_789, reopened.LoadBaseIndex()["new.txt"].ChangeTimeNs);
        Assert.Null(reopened.GetFile("old.txt")!.ChangeTimeNs);
    }

    [Fact]
    public async Task An_upgraded_db_reads_no_file_again_learns_the_ctimes_from_the_scan_and_then_sees_a_put_back_edit()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // the ctime is read with statx (elsewhere the unchanged test is size and mtime, as before)
        }

        const int Files = 20;
        using (var before = new TestClient(_dir, "a", _server))
        {
            for (var i = 0; i < Files; i++)
            {
                WriteSettled(before, $"f{i}.txt", $"file number {i:D2}");
            }

            Assert.Equal(Files, (await before.SyncAsync()).FilesUploaded);
        }

        // The db as a build before the column left it.
        using (var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(_dir.Path, "a-state", LocalState.DatabaseFileName), Pooling = false }.ToString()))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "ALTER TABLE files DROP COLUMN ctime;";
            cmd.ExecuteNonQuery();
        }

        using var a = new TestClient(_dir, "a", _server);
        Assert.All(a.State.LoadFiles().Values, r => Assert.Null(r.ChangeTimeNs));
        var upgraded = await a.SyncAsync();

        Assert.Equal(0, a.Engine.FilesHashed); // no mass re-read
        Assert.Equal(0, upgraded.FilesUploaded + upgraded.FilesDownloaded + upgraded.Errors);
        for (var i = 0; i < Files; i++)
        {
            Assert.Equal(FileChangeTime.TryGet(a.PathOf($"f{i}.txt")), a.State.GetFile($"f{i}.txt")!.ChangeTimeNs);
        }

        RewriteInPlaceKeepingMtime(a, "f3.txt", "FILE NUMBER 03");
        var pass = await a.SyncAsync();
        Assert.Equal(1, a.Engine.FilesHashed);
        Assert.Equal(1, pass.FilesUploaded);
    }

    [Fact]
    public async Task An_in_place_edit_made_while_a_remote_edit_downloads_over_a_file_found_unchanged_is_kept()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // the ctime is read with statx
        }

        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        WriteSettled(a, "x.txt", "the synced bytes");
        await a.SyncAsync();
        await b.SyncAsync();
        File.SetLastWriteTimeUtc(b.PathOf("x.txt"), OldMtime);
        await b.SyncAsync(); // read once (its mtime moved) and touched: from now on found unchanged, never read
        a.Write("x.txt", "the downloaded bytes");
        Assert.Equal(1, (await a.SyncAsync()).FilesUploaded);

        // B's scan finds x.txt unchanged (not read) and plans the download; while its bytes come in, the user rewrites
        // the file in place, size kept, mtime put back.
        var pass = await SyncRewritingInPlaceDuringTheDownloadAsync(b, "x.txt", "THE SYNCED BYTES");
        Assert.Equal(1, pass.Conflicts);
        var contents = TestClient.FilesIn(b.Folder).Select(File.ReadAllText).ToList();
        Assert.Contains("THE SYNCED BYTES", contents);
        Assert.Contains("the downloaded bytes", contents);
    }

    [Fact]
    public async Task An_in_place_edit_made_while_a_local_rename_is_committed_is_read_and_sent_by_the_next_pass()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // the ctime is read with statx
        }

        using var a = new TestClient(_dir, "a", _server);
        WriteSettled(a, "old.txt", "moved text");
        Assert.Equal(1, (await a.SyncAsync()).FilesUploaded);
        File.Move(a.PathOf("old.txt"), a.PathOf("new.txt"));

        // The rename is read at its new name and sent as a move; while the server commits it, the user rewrites the
        // file in place, size kept, mtime put back: the ctime recorded must be the one read, never "unknown".
        var edited = false;
        _server.BeforeMoveFile = _ =>
        {
            edited = true;
            RewriteInPlaceKeepingMtime(a, "new.txt", "MOVED TEXT");
            return Task.CompletedTask;
        };
        Assert.Equal(1, (await a.SyncAsync()).FilesMoved);
        _server.BeforeMoveFile = null;
        Assert.True(edited);

        Assert.Equal(1, (await a.SyncAsync()).FilesUploaded);
        using var b = new TestClient(_dir, "b", _server);
        await b.SyncAsync();
        Assert.Equal("MOVED TEXT", b.Read("new.txt"));
    }

    [Fact]
    public async Task An_in_place_edit_made_after_the_scan_of_a_file_deleted_remotely_is_kept_and_sent()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // the ctime is read with statx
        }

        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        WriteSettled(a, "f.txt", "deleted text");
        WriteSettled(a, "g.txt", "g, version one");
        await a.SyncAsync();
        await b.SyncAsync();
        File.Delete(a.PathOf("f.txt"));
        a.Write("g.txt", "g, version two, longer");
        await a.SyncAsync();

        // B plans the delete of f.txt and the download of g.txt; the deletes run after the transfers: the user rewrites
        // f.txt in place (size kept, mtime put back) while g.txt's bytes come in.
        var pass = await SyncRewritingInPlaceDuringTheDownloadAsync(b, "f.txt", "DELETED TEXT");
        Assert.Equal(0, pass.FilesDeleted);
        Assert.Equal("DELETED TEXT", b.Read("f.txt"));
        Assert.Contains("'f.txt' was deleted remotely but changed here; kept, and sent again as a new file", pass.Notes);
        await b.SyncAsync();
        await a.SyncAsync();
        Assert.Equal("DELETED TEXT", a.Read("f.txt"));
    }

    [Fact]
    public async Task A_name_less_leftover_with_the_synced_bytes_beside_a_file_rewritten_in_place_is_removed_as_that_files_synced_version()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // the ctime is read with statx
        }

        // The previous version's downloader, killed after it found the file it displaced unchanged and before it deleted
        // it, left it under a holding name that carries no name; what sits at the name since has the synced size and
        // mtime but not the synced bytes (rewritten in place): the leftover is that file's synced version, on the server.
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        WriteSettled(a, "docs/synced.txt", "the synced bytes");
        await a.SyncAsync();
        await b.SyncAsync();
        b.Write("docs/" + IgnoreMatcher.TempPrefix + "displaced-" + new string('a', 32), "the synced bytes");
        RewriteInPlaceKeepingMtime(b, "docs/synced.txt", "THE SYNCED BYTES");

        var pass = await b.SyncAsync();

        Assert.Equal(0, pass.Errors + pass.Conflicts);
        Assert.Equal(["synced.txt"], Directory.GetFiles(b.PathOf("docs")).Select(Path.GetFileName));
        Assert.Equal(1, pass.FilesUploaded); // the rewrite, read by its moved ctime
        await a.SyncAsync();
        Assert.Equal("THE SYNCED BYTES", a.Read("docs/synced.txt"));
    }

    /// <summary>Writes a file with an old mtime, as a file synced long ago has (its first read is not racy).</summary>
    internal static void WriteSettled(TestClient client, string relative, string text)
    {
        client.Write(relative, text);
        File.SetLastWriteTimeUtc(client.PathOf(relative), OldMtime);
    }

    /// <summary>
    /// Rewrites the file in place (same inode, same size) and puts its mtime back, as <c>cp -p</c> or a tool that
    /// restores timestamps leaves it: only the ctime tells.
    /// </summary>
    /// <summary>
    /// One pass of <paramref name="client"/> during which, before its first chunk comes in, the user rewrites
    /// <paramref name="relative"/> in place (size kept, mtime put back).
    /// </summary>
    private async Task<SyncSummary> SyncRewritingInPlaceDuringTheDownloadAsync(TestClient client, string relative, string text)
    {
        var edited = false;
        _server.BeforeGetChunks = () =>
        {
            if (!edited)
            {
                edited = true;
                RewriteInPlaceKeepingMtime(client, relative, text);
            }
        };
        var pass = await client.SyncAsync();
        _server.BeforeGetChunks = null;
        Assert.True(edited);
        return pass;
    }

    internal static void RewriteInPlaceKeepingMtime(TestClient client, string relative, string text)
    {
        var full = client.PathOf(relative);
        var bytes = Encoding.UTF8.GetBytes(text);
        Assert.Equal(new FileInfo(full).Length, bytes.Length);
        var mtime = File.GetLastWriteTimeUtc(full);
        MoveCtime(full, () =>
        {
            using (var stream = new FileStream(full, FileMode.Open, FileAccess.Write))
            {
                stream.Write(bytes);
            }

            File.SetLastWriteTimeUtc(full, mtime);
        });
        Assert.Equal(mtime, File.GetLastWriteTimeUtc(full));
        Assert.Equal(text, File.ReadAllText(full));
    }

    /// <summary>
    /// Runs <paramref name="change"/> until the file's ctime differs from the one before it: the kernel stamps ctimes
    /// from a coarse clock, so a change right after the last one may land in the same tick (a condition, not a sleep).
    /// </summary>
    internal static void MoveCtime(string full, Action change)
    {
        var before = FileChangeTime.TryGet(full);
        var deadline = Stopwatch.StartNew();
        do
        {
            change();
        }
        while (FileChangeTime.TryGet(full) == before && deadline.Elapsed < TimeSpan.FromSeconds(10));

        Assert.NotEqual(before, FileChangeTime.TryGet(full));
    }

    /// <summary>
    /// A remembered withheld path (its remote change skipped while the path was withheld, the cursor past it) whose file
    /// is found clean: the download over it gets the recorded ctime to check, so an in-place edit (size kept, mtime put
    /// back) made while the bytes come in is kept (second review of this change: it was overwritten).
    /// </summary>
    [Fact]
    public async Task A_remembered_clean_file_downloaded_over_keeps_an_in_place_edit_made_meanwhile()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        WriteSettled(a, "x.txt", "the synced bytes");
        await a.SyncAsync();
        await b.SyncAsync();
        File.SetLastWriteTimeUtc(b.PathOf("x.txt"), OldMtime);
        await b.SyncAsync(); // read once and touched: from now on found clean, never read
        Assert.NotNull(b.State.GetFile("x.txt")!.ChangeTimeNs);
        a.Write("x.txt", "the downloaded bytes");
        Assert.Equal(1, (await a.SyncAsync()).FilesUploaded);

        // B as a pass that skipped the change at a withheld path leaves it (an unreadable folder since made readable,
        // a case clash resolved): the path remembered, the cursor past the change.
        b.State.Withheld.Set(["x.txt"]);
        var seq = (await _server.GetAccountAsync(CancellationToken.None)).Cursor;
        b.State.SetSetting(StateKeys.Cursor, seq);

        await SyncRewritingInPlaceDuringTheDownloadAsync(b, "x.txt", "THE SYNCED BYTES");
        var contents = TestClient.FilesIn(b.Folder).Select(File.ReadAllText).ToList();
        Assert.Contains("the downloaded bytes", contents);
        Assert.Contains("THE SYNCED BYTES", contents); // the user's edit, kept (at the name or as a conflicted copy)
    }

    /// <summary>
    /// A file saved by rename at a download's name right after the download went in, with the download's size and mtime:
    /// the placed stat is not the written inode, so the record's ctime is one no file has, and the next scan reads the
    /// file and sends the user's bytes (an unknown ctime was trusted by size and mtime: never read, never sent).
    /// </summary>
    [Fact]
    public async Task A_file_saved_over_a_download_just_placed_is_read_by_the_next_scan()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        const string path = "x.txt";
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        WriteSettled(a, path, "the synced bytes");
        await a.SyncAsync();
        await b.SyncAsync();
        var synced = new FileInfo(b.PathOf(path));
        var expected = new LocalEntry(path, FileKind.File, synced.Length, synced.LastWriteTimeUtc.Ticks, SettlesIn: null);
        a.Write(path, "the downloaded bytes");
        File.SetLastWriteTimeUtc(a.PathOf(path), OldMtime.AddHours(1));
        await a.SyncAsync();

        const string users = "USER'S OWN 20 BYTES!";
        var summary = new SyncSummary();
        using var gets = new SemaphoreSlim(4);
        var downloader = new FileDownloader(b.Context, summary, gets, p => p + ".conflict")
        {
            BeforeDisplacedCheck = staged =>
            {
                var theirs = staged.Full + ".editor-save";
                File.WriteAllText(theirs, users);
                File.SetLastWriteTimeUtc(theirs, new DateTime(staged.Written!.Value.MtimeTicks, DateTimeKind.Utc));
                File.Move(theirs, staged.Full, overwrite: true);
                return Task.CompletedTask;
            },
        };
        var result = await downloader.DownloadAsync(path, expected, null, FileChangeTime.TryGet(b.PathOf(path)), CancellationToken.None);
        Assert.True(result.Placed);
        Assert.Equal(users, b.Read(path));
        Assert.Equal(FileChangeTime.NotVouched, b.State.GetFile(path)!.ChangeTimeNs);

        var pass = await b.SyncAsync();
        Assert.Equal(1, pass.FilesUploaded); // the user's bytes are sent
    }
}
