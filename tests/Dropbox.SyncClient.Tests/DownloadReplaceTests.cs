using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A download replacing a synced file: the download first goes to a conflicted-copy name, then is exchanged with the
/// file at the name, and the displaced file is looked at where it then is, visible. Whatever happens from there (a kill,
/// a read error, a folder or a save at the name), the user's bytes are never left under a hidden name nor deleted.
/// </summary>
public sealed class DownloadReplaceTests : IDisposable
{
    private const string UserBytes = "the user's new bytes";
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();
    private readonly SemaphoreSlim _gets = new(4);

    public void Dispose()
    {
        _gets.Dispose();
        _dir.Dispose();
    }

    /// <summary>The user saves at the name (by rename, as editors do) right before the exchange.</summary>
    private static Task SaveAtName(StagedDownload staged)
    {
        SaveByRename(staged.Full, UserBytes);
        return Task.CompletedTask;
    }

    /// <summary>A folder is made at the name right before the exchange.</summary>
    private static Task FolderAtName(StagedDownload staged)
    {
        File.Delete(staged.Full);
        Directory.CreateDirectory(staged.Full);
        return Task.CompletedTask;
    }

    /// <summary>A folder holding the user's file is made at the name right before the exchange.</summary>
    private static Task FolderWithFileAtName(StagedDownload staged)
    {
        FolderAtName(staged);
        File.WriteAllText(Path.Combine(staged.Full, "inside.txt"), UserBytes);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_kill_while_the_displaced_file_is_checked_leaves_the_users_edit_visible_and_synced_to_every_device()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // elsewhere the check alone stands (no renameat2)
        }

        // Arrange: the user saves at the name right before the exchange; the client stops (an exception standing in for
        // a kill) while the displaced file is being looked at.
        const string path = "docs/x.txt";
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var expected = await SyncedThenEditedOnAAsync(a, b, path);
        var downloader = new FileDownloader(b.Context, new SyncSummary(), _gets, p => p + ".conflict")
        {
            BeforeRename = SaveAtName,
            BeforeDisplacedCheck = _ => throw new IOException("the client was killed here"),
        };

        // Act: the interrupted download, then passes on both devices.
        await Assert.ThrowsAsync<IOException>(() => downloader.DownloadAsync(path, expected, CancellationToken.None));
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(0, (await b.SyncAsync()).Errors);
            Assert.Equal(0, (await a.SyncAsync()).Errors);
        }

        // Assert: the user's bytes at a visible name on both devices; the name holds the download on both.
        Assert.Equal(["docs/x.txt.conflict"], VisibleWith(b, UserBytes));
        Assert.Equal(["docs/x.txt.conflict"], VisibleWith(a, UserBytes));
        Assert.Equal("the downloaded bytes", b.Read(path));
        Assert.Equal("the downloaded bytes", a.Read(path));
        Assert.Equal(["x.txt", "x.txt.conflict"], Directory.GetFileSystemEntries(b.PathOf("docs")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(["x.txt", "x.txt.conflict"], Directory.GetFileSystemEntries(a.PathOf("docs")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_name_near_the_length_limit_gets_a_conflicted_copy_name_that_fits_and_the_users_edit_is_kept()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        // Arrange: a 220-byte name, whose conflicted-copy name would be over 255 bytes unless cut short.
        var path = "docs/" + new string('n', 216) + ".txt";
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var expected = await SyncedThenEditedOnAAsync(a, b, path);
        var summary = new SyncSummary();
        var downloader = new FileDownloader(b.Context, summary, _gets, p => ConflictNames.Next(p, "laptop-b", new DateOnly(2026, 12, 3), _ => false))
        {
            BeforeRename = SaveAtName,
        };

        // Act
        var result = await downloader.DownloadAsync(path, expected, CancellationToken.None);

        // Assert: the download in place, the user's bytes in a conflicted copy whose name fits.
        Assert.Equal("the downloaded bytes", b.Read(path));
        var kept = Assert.Single(VisibleWith(b, UserBytes));
        Assert.Equal(result.ConflictCopy, kept);
        Assert.True(System.Text.Encoding.UTF8.GetByteCount(Path.GetFileName(kept)) <= 255);
        Assert.EndsWith(" 2026-12-03).txt", kept, StringComparison.Ordinal);
        Assert.Equal(1, summary.Conflicts);
    }

    [Fact]
    public async Task A_file_saved_at_the_name_while_a_folder_swapped_in_is_put_back_is_kept_visible_not_deleted()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        // Arrange: a folder made at the name right before the exchange; while it is at the conflicted-copy name, the
        // user saves a file at the name (over the download): the put-back swaps that save out, not the download.
        const string path = "docs/x.txt";
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var expected = await SyncedThenEditedOnAAsync(a, b, path);
        var summary = new SyncSummary();
        var downloader = new FileDownloader(b.Context, summary, _gets, p => p + ".conflict")
        {
            BeforeRename = FolderWithFileAtName,
            BeforeDisplacedCheck = staged =>
            {
                SaveByRename(staged.Full, "the second save");
                return Task.CompletedTask;
            },
        };

        // Act
        var e = await Assert.ThrowsAsync<Dropbox.Shared.Errors.DropboxException>(() => downloader.DownloadAsync(path, expected, CancellationToken.None));

        // Assert: the folder back at its name, the save kept (visible, reported), nothing else left.
        Assert.Contains("is a folder here and a file remotely", e.Message, StringComparison.Ordinal);
        Assert.Equal(UserBytes, b.Read("docs/x.txt/inside.txt"));
        Assert.Equal("the second save", b.Read("docs/x.txt.conflict"));
        Assert.Equal(1, summary.Conflicts);
        Assert.Equal(["x.txt", "x.txt.conflict"], Directory.GetFileSystemEntries(b.PathOf("docs")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_file_of_the_downloads_size_and_mtime_saved_at_the_name_while_a_folder_is_put_back_is_kept_not_taken_for_the_download()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        // Arrange: a folder made at the name right before the exchange; while it is at the conflicted-copy name, the user
        // saves a file over the download with the download's size and mtime (rsync -t of another copy): only its inode
        // tells it from the download the put-back swaps out.
        const string path = "docs/x.txt";
        const string theirs = "the user's own bytes"; // as long as "the downloaded bytes"
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var expected = await SyncedThenEditedOnAAsync(a, b, path);
        var summary = new SyncSummary();
        var downloader = new FileDownloader(b.Context, summary, _gets, p => p + ".conflict")
        {
            BeforeRename = FolderAtName,
            BeforeDisplacedCheck = staged =>
            {
                var download = new FileInfo(staged.Full);
                var save = staged.Full + ".rsync-tmp";
                File.WriteAllText(save, theirs);
                File.SetLastWriteTimeUtc(save, download.LastWriteTimeUtc);
                Assert.Equal(FileStamp.Of(download), FileStamp.Of(new FileInfo(save)));
                File.Move(save, staged.Full, overwrite: true);
                return Task.CompletedTask;
            },
        };

        // Act
        await Assert.ThrowsAsync<Dropbox.Shared.Errors.DropboxException>(() => downloader.DownloadAsync(path, expected, CancellationToken.None));

        // Assert: the folder back at its name, the save kept (visible, reported), not deleted as the download.
        Assert.True(Directory.Exists(b.PathOf(path)));
        Assert.Equal(theirs, b.Read("docs/x.txt.conflict"));
        Assert.Equal(1, summary.Conflicts);
    }

    [Fact]
    public async Task A_folder_swapped_in_goes_back_to_its_own_name_when_the_download_was_deleted_meanwhile()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        // Arrange: a folder made at the name right before the exchange; while it is at the conflicted-copy name, the
        // download it was swapped with is deleted (the user cleaning up): nothing is at the name to swap back with.
        const string path = "docs/x.txt";
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var expected = await SyncedThenEditedOnAAsync(a, b, path);
        var summary = new SyncSummary();
        var downloader = new FileDownloader(b.Context, summary, _gets, p => p + ".conflict")
        {
            BeforeRename = FolderWithFileAtName,
            BeforeDisplacedCheck = staged =>
            {
                File.Delete(staged.Full);
                return Task.CompletedTask;
            },
        };

        // Act
        var e = await Assert.ThrowsAsync<Dropbox.Shared.Errors.DropboxException>(() => downloader.DownloadAsync(path, expected, CancellationToken.None));

        // Assert: the folder at its own name, not left at the file-like conflicted-copy name; nothing else there.
        Assert.Contains("is a folder here and a file remotely", e.Message, StringComparison.Ordinal);
        Assert.Equal(UserBytes, b.Read("docs/x.txt/inside.txt"));
        Assert.Equal(0, summary.Conflicts);
        Assert.Equal(["x.txt"], Directory.GetFileSystemEntries(b.PathOf("docs")).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_folder_swapped_in_is_put_back_and_the_download_it_swaps_out_is_deleted()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        const string path = "docs/x.txt";
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var expected = await SyncedThenEditedOnAAsync(a, b, path);
        var summary = new SyncSummary();
        var downloader = new FileDownloader(b.Context, summary, _gets, p => p + ".conflict")
        {
            BeforeRename = FolderAtName,
        };

        await Assert.ThrowsAsync<Dropbox.Shared.Errors.DropboxException>(() => downloader.DownloadAsync(path, expected, CancellationToken.None));

        Assert.True(Directory.Exists(b.PathOf(path)));
        Assert.Equal(0, summary.Conflicts);
        Assert.Equal(["x.txt"], Directory.GetFileSystemEntries(b.PathOf("docs")).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_file_already_at_the_conflicted_copy_name_is_never_replaced_and_nothing_is_moved()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        // Arrange: the conflicted-copy name is taken (made after the name was chosen), the user saved at the name.
        const string path = "docs/x.txt";
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var expected = await SyncedThenEditedOnAAsync(a, b, path);
        File.WriteAllText(b.PathOf(path + ".conflict"), "an older copy");
        var downloader = new FileDownloader(b.Context, new SyncSummary(), _gets, p => p + ".conflict")
        {
            BeforeRename = SaveAtName,
        };

        // Act
        await Assert.ThrowsAsync<IOException>(() => downloader.DownloadAsync(path, expected, CancellationToken.None));

        // Assert: both files where they were, no temp file left.
        Assert.Equal(UserBytes, b.Read(path));
        Assert.Equal("an older copy", b.Read(path + ".conflict"));
        Assert.Equal(["x.txt", "x.txt.conflict"], Directory.GetFileSystemEntries(b.PathOf("docs")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_save_by_rename_with_the_old_size_and_mtime_put_back_is_kept_not_taken_for_the_synced_file()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        // Arrange: after the final check, a new file of the same size, the old mtime put back (rsync -t, cp -p), is
        // renamed over the name: size and mtime match the plan, the inode does not.
        const string path = "docs/x.txt";
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var expected = await SyncedThenEditedOnAAsync(a, b, path);
        var summary = new SyncSummary();
        var downloader = new FileDownloader(b.Context, summary, _gets, p => p + ".conflict")
        {
            BeforeRename = staged =>
            {
                var mtime = File.GetLastWriteTimeUtc(staged.Full);
                var theirs = staged.Full + ".rsync-tmp";
                File.WriteAllText(theirs, "THE SYNCED BYTES"); // same length
                File.SetLastWriteTimeUtc(theirs, mtime);
                File.Move(theirs, staged.Full, overwrite: true);
                return Task.CompletedTask;
            },
        };

        // Act
        var result = await downloader.DownloadAsync(path, expected, CancellationToken.None);

        // Assert
        Assert.Equal("the downloaded bytes", b.Read(path));
        Assert.Equal("docs/x.txt.conflict", result.ConflictCopy);
        Assert.Equal("THE SYNCED BYTES", b.Read("docs/x.txt.conflict"));
        Assert.Equal(1, summary.Conflicts);
    }

    [Fact]
    public async Task A_same_size_edit_in_place_with_the_mtime_put_back_after_the_plan_read_the_file_is_kept()
    {
        if (FileChangeTime.TryGet(_dir.Path) is null)
        {
            return; // no ctime here: size and mtime alone stand
        }

        // Arrange: the plan read the file (its ctime noted); then the user edits it in place, same length, and puts its
        // mtime back (touch -r, exiftool -P): size and mtime as the plan saw them, the ctime not.
        const string path = "docs/x.txt";
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var expected = await SyncedThenEditedOnAAsync(a, b, path);
        var full = b.PathOf(path);
        var planned = FileChangeTime.TryGet(full);
        var mtime = File.GetLastWriteTimeUtc(full);
        using (var f = new FileStream(full, FileMode.Open, FileAccess.Write))
        {
            f.Write("THE SYNCED BYTES"u8);
        }

        File.SetLastWriteTimeUtc(full, mtime);
        var summary = new SyncSummary();
        var downloader = new FileDownloader(b.Context, summary, _gets, p => p + ".conflict");

        // Act
        var result = await downloader.DownloadAsync(path, expected, null, planned, CancellationToken.None);

        // Assert
        Assert.Equal("the downloaded bytes", b.Read(path));
        Assert.Equal("docs/x.txt.conflict", result.ConflictCopy);
        Assert.Equal("THE SYNCED BYTES", b.Read("docs/x.txt.conflict"));
        Assert.Equal(1, summary.Conflicts);
    }

    [Fact]
    public async Task A_displaced_file_that_could_not_be_read_again_is_kept_as_a_conflicted_copy_not_deleted()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        // Arrange: the plan took the file as unchanged on a racy read, so it is read again once displaced; that read
        // fails (the pass is cancelled meanwhile, standing in for any read error): not known unchanged.
        const string path = "docs/x.txt";
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var expected = await SyncedThenEditedOnAAsync(a, b, path);
        var summary = new SyncSummary();
        using var cancel = new CancellationTokenSource();
        var downloader = new FileDownloader(b.Context, summary, _gets, p => p + ".conflict")
        {
            BeforeDisplacedCheck = _ =>
            {
                cancel.Cancel();
                return Task.CompletedTask;
            },
        };

        // Act
        var result = await downloader.DownloadAsync(path, expected, racyBaseHash: b.State.GetFile(path)!.ContentHash, cancel.Token);

        // Assert: the download in place, the displaced file kept where it is, visible, and reported.
        Assert.Equal("the downloaded bytes", b.Read(path));
        Assert.Equal("docs/x.txt.conflict", result.ConflictCopy);
        Assert.Equal("the synced bytes", b.Read("docs/x.txt.conflict"));
        Assert.Equal(1, summary.Conflicts);
    }

    [Fact]
    public async Task A_file_removed_before_the_exchange_is_replaced_by_the_download_with_nothing_left_beside_it()
    {
        const string path = "docs/x.txt";
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var expected = await SyncedThenEditedOnAAsync(a, b, path);
        var summary = new SyncSummary();
        var downloader = new FileDownloader(b.Context, summary, _gets, p => p + ".conflict")
        {
            BeforeRename = staged =>
            {
                File.Delete(staged.Full);
                return Task.CompletedTask;
            },
        };

        var result = await downloader.DownloadAsync(path, expected, CancellationToken.None);

        Assert.True(result.Placed);
        Assert.Null(result.ConflictCopy);
        Assert.Equal("the downloaded bytes", b.Read(path));
        Assert.Equal(["x.txt"], Directory.GetFileSystemEntries(b.PathOf("docs")).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_conflict_on_a_230_byte_name_syncs_with_a_conflicted_copy_name_that_fits()
    {
        // Arrange: a 230-byte name edited on both devices (its copy's name, with this device's short name, 260 bytes).
        var path = "docs/" + new string('n', 226) + ".txt";
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write(path, "the synced bytes");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        a.Write(path, "a's edit");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        b.Write(path, "b's edit");

        // Act
        var summary = await b.SyncAsync();
        Assert.Equal(0, (await a.SyncAsync()).Errors);

        // Assert: no error, both versions on both devices, the copy's name within 255 bytes.
        Assert.Equal(0, summary.Errors);
        Assert.Equal(1, summary.Conflicts);
        foreach (var c in new[] { a, b })
        {
            var kept = Assert.Single(VisibleWith(c, "b's edit"));
            Assert.True(ConflictNames.IsConflictedCopy(kept));
            Assert.InRange(System.Text.Encoding.UTF8.GetByteCount(Path.GetFileName(kept)), 200, 255);
            Assert.Equal("a's edit", c.Read(path));
        }
    }

    /// <summary>A save as editors make it: a new file renamed over the name.</summary>
    private static void SaveByRename(string full, string text)
    {
        var theirs = full + ".editor-save";
        File.WriteAllText(theirs, text);
        File.Move(theirs, full, overwrite: true);
    }

    /// <summary>Relative paths of the files holding <paramref name="text"/> whose names are not hidden.</summary>
    private static List<string> VisibleWith(TestClient c, string text) =>
        Directory.GetFiles(c.Folder, "*", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).StartsWith('.') && File.ReadAllText(f) == text)
            .Select(f => Path.GetRelativePath(c.Folder, f).Replace('\\', '/')).ToList();

    /// <summary>
    /// <paramref name="path"/> synced on both clients, then a new version committed from <paramref name="a"/>; returns
    /// <paramref name="b"/>'s file as its plan will expect it.
    /// </summary>
    private static async Task<LocalEntry> SyncedThenEditedOnAAsync(TestClient a, TestClient b, string path)
    {
        a.Write(path, "the synced bytes");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        var synced = new FileInfo(b.PathOf(path));
        var expected = new LocalEntry(path, FileKind.File, synced.Length, synced.LastWriteTimeUtc.Ticks, SettlesIn: null);
        a.Write(path, "the downloaded bytes");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        return expected;
    }
}
