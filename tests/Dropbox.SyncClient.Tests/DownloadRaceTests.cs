using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A local file that appears or changes at a download's name after its last check and before its rename: the rename
/// never replaces it (Linux: renameat2), so the user's bytes are kept as a conflicted copy beside the download.
/// </summary>
public sealed class DownloadRaceTests : IDisposable
{
    private const string UserBytes = "the user's new bytes";
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    public enum Way
    {
        /// <summary>A new file in a batch of small files (the plan expects nothing at the name).</summary>
        BatchNew,

        /// <summary>A new file downloaded alone (large or many-chunk files).</summary>
        AloneNew,

        /// <summary>A new version of a synced file, downloaded alone (the plan expects the synced file at the name).</summary>
        AloneReplacing,

        /// <summary>As <see cref="AloneReplacing"/>, the user's edit made in place (same file, not a new one at the name).</summary>
        AloneReplacingEditedInPlace,
    }

    [Theory]
    [InlineData(Way.BatchNew)]
    [InlineData(Way.AloneNew)]
    [InlineData(Way.AloneReplacing)]
    [InlineData(Way.AloneReplacingEditedInPlace)]
    public async Task A_file_written_at_the_name_between_the_last_check_and_the_rename_is_kept_as_a_conflicted_copy(Way way)
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // elsewhere the check alone stands (no renameat2)
        }

        const string path = "docs/x.txt";
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        LocalEntry? expected = null;
        if (way is Way.AloneReplacing or Way.AloneReplacingEditedInPlace)
        {
            a.Write(path, "the synced bytes");
            Assert.Equal(0, (await a.SyncAsync()).Errors);
            Assert.Equal(0, (await b.SyncAsync()).Errors);
            var synced = new FileInfo(b.PathOf(path));
            expected = new LocalEntry(path, FileKind.File, synced.Length, synced.LastWriteTimeUtc.Ticks, SettlesIn: null);
        }

        a.Write(path, "the downloaded bytes");
        for (var i = 0; i < 6; i++)
        {
            a.Write($"docs/other{i}.txt", $"other file {i}");
        }

        Assert.Equal(0, (await a.SyncAsync()).Errors);

        var summary = new SyncSummary();
        using var gets = new SemaphoreSlim(4);
        var downloader = new FileDownloader(b.Context, summary, gets, p => p + ".conflict");
        downloader.BeforeRename = staged =>
        {
            if (staged.Path == path)
            {
                if (way == Way.AloneReplacingEditedInPlace)
                {
                    using var same = new FileStream(staged.Full, FileMode.Open, FileAccess.Write);
                    same.SetLength(0);
                    same.Write(System.Text.Encoding.UTF8.GetBytes(UserBytes));
                }
                else
                {
                    // A new file at the name, as an editor's save-by-rename or a copy leaves it.
                    var theirs = staged.Full + ".editor-save";
                    File.WriteAllText(theirs, UserBytes);
                    File.Move(theirs, staged.Full, overwrite: true);
                }
            }

            return Task.CompletedTask;
        };

        string? copy;
        if (way == Way.BatchNew)
        {
            var files = new List<(string, long)> { (path, 20) };
            files.AddRange(Enumerable.Range(0, 6).Select(i => ($"docs/other{i}.txt", 12L)));
            var copies = await new BatchDownloader(b.Context, summary, downloader, 4).DownloadAsync(files, CancellationToken.None);
            copy = Assert.Single(copies);
        }
        else
        {
            var result = await downloader.DownloadAsync(path, expected, CancellationToken.None);
            Assert.True(result.Placed);
            copy = result.ConflictCopy;
        }

        Assert.Equal(0, summary.Errors);
        Assert.Equal(1, summary.Conflicts);
        Assert.Equal(path + ".conflict", copy);
        Assert.Equal(UserBytes, b.Read(path + ".conflict"));
        Assert.Equal("the downloaded bytes", b.Read(path));
        Assert.Equal(20, b.State.GetFile(path)!.Size);
        Assert.Empty(Directory.GetFiles(b.Folder, IgnoreMatcher.TempPrefix + "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Placing_a_download_whose_size_and_time_were_never_noted_is_refused_not_recorded_from_whatever_is_at_the_name()
    {
        const string path = "docs/x.txt";
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write(path, "the downloaded bytes");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        using var gets = new SemaphoreSlim(4);
        var downloader = new FileDownloader(b.Context, new SyncSummary(), gets, p => p + ".conflict");
        var plan = await downloader.PlanAsync(path, CancellationToken.None);
        using var staged = downloader.Create(path, plan!, null, null);
        staged.Close(); // a caller that forgot SetTime

        await Assert.ThrowsAsync<InvalidOperationException>(() => downloader.PlaceAsync(staged, CancellationToken.None));
        Assert.False(File.Exists(b.PathOf(path)));
    }

    [Fact]
    public async Task A_new_version_replacing_an_unchanged_synced_file_leaves_no_conflicted_copy_and_no_temp_file()
    {
        const string path = "docs/x.txt";
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var expected = await SyncedThenEditedOnAAsync(a, b, path);
        var summary = new SyncSummary();
        using var gets = new SemaphoreSlim(4);
        var downloader = new FileDownloader(b.Context, summary, gets, p => p + ".conflict");

        var result = await downloader.DownloadAsync(path, expected, CancellationToken.None);

        Assert.True(result.Placed);
        Assert.Null(result.ConflictCopy);
        Assert.Equal(0, summary.Conflicts);
        Assert.Equal("the downloaded bytes", b.Read(path));
        Assert.Equal(["x.txt"], Directory.GetFiles(b.PathOf("docs")).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_folder_made_at_the_name_of_a_file_being_replaced_is_put_back_and_the_download_refused()
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
        using var gets = new SemaphoreSlim(4);
        var downloader = new FileDownloader(b.Context, summary, gets, p => p + ".conflict");
        downloader.BeforeRename = staged =>
        {
            File.Delete(staged.Full);
            Directory.CreateDirectory(staged.Full);
            File.WriteAllText(Path.Combine(staged.Full, "inside.txt"), UserBytes);
            return Task.CompletedTask;
        };

        var e = await Assert.ThrowsAsync<Dropbox.Shared.Errors.DropboxException>(() => downloader.DownloadAsync(path, expected, CancellationToken.None));

        Assert.Contains("is a folder here and a file remotely", e.Message, StringComparison.Ordinal);
        Assert.Equal(UserBytes, b.Read("docs/x.txt/inside.txt"));
        Assert.Equal(["x.txt"], Directory.GetFileSystemEntries(b.PathOf("docs")).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_user_file_displaced_by_the_exchange_survives_a_crash_while_it_is_checked()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        // Arrange: the user saves at the name right before the exchange; the client stops (an exception standing in
        // for a kill) while the displaced file is being looked at.
        const string path = "docs/x.txt";
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var expected = await SyncedThenEditedOnAAsync(a, b, path);
        var summary = new SyncSummary();
        using var gets = new SemaphoreSlim(4);
        var downloader = new FileDownloader(b.Context, summary, gets, p => p + ".conflict")
        {
            BeforeRename = staged =>
            {
                File.WriteAllText(staged.Full, UserBytes);
                return Task.CompletedTask;
            },
            BeforeDisplacedCheck = _ => throw new IOException("the client was killed here"),
        };

        // Act: the interrupted download, then the next pass (its scan sweeps the client's own temp files).
        await Assert.ThrowsAsync<IOException>(() => downloader.DownloadAsync(path, expected, CancellationToken.None));
        var pass = await b.SyncAsync();

        // Assert: the user's bytes are not left hidden: they wait at the conflicted-copy name the downloader chose before
        // the exchange, uploaded like any conflicted copy (a reaches them), and nothing is left under a hidden name.
        Assert.Equal(0, pass.Errors);
        var kept = Directory.GetFiles(b.PathOf("docs")).Where(f => File.ReadAllText(f) == UserBytes).Select(Path.GetFileName).ToList();
        var copy = Assert.Single(kept)!;
        Assert.Equal("x.txt.conflict", copy);
        Assert.DoesNotContain(Directory.GetFiles(b.PathOf("docs")), f => Path.GetFileName(f).StartsWith(IgnoreMatcher.TempPrefix, StringComparison.Ordinal));
        Assert.Equal("the downloaded bytes", b.Read(path));
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal(UserBytes, a.Read("docs/" + copy));
    }

    [Theory]
    [InlineData(false)] // the previous version's holding name: no name carried
    [InlineData(true)]
    public async Task A_leftover_holding_file_with_the_synced_bytes_is_removed_not_kept_as_a_file_of_yours(bool carriesName)
    {
        // Arrange: the previous version's downloader, killed after it found the file it displaced unchanged (the synced
        // version) and before it deleted it, left it under a holding name.
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("docs/synced.txt", "the synced bytes");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        var holding = "docs/" + (carriesName ? TempName.NewDisplaced("synced.txt") : IgnoreMatcher.TempPrefix + "displaced-" + new string('a', 32));
        Assert.True(TempName.IsDisplaced(holding[5..], out _));
        b.Write(holding, "the synced bytes");
        if (!carriesName)
        {
            // What that downloader left at the name: its download, in place and not recorded (a name-less leftover is
            // taken for a file's synced version only where the file there no longer has its synced stamp).
            b.Write("docs/synced.txt", "the next version");
        }

        // Act
        var pass = await b.SyncAsync();

        // Assert: the server holds these bytes: removed, no conflicted copy, nothing reported as a file of yours.
        Assert.Equal(0, pass.Errors + pass.Conflicts);
        Assert.Equal(["synced.txt"], Directory.GetFiles(b.PathOf("docs")).Select(Path.GetFileName));
        Assert.DoesNotContain(pass.Notes, n => n.Contains("of yours", StringComparison.Ordinal));
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal(["synced.txt"], Directory.GetFiles(a.PathOf("docs")).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_leftover_holding_file_equal_to_another_files_synced_bytes_is_kept_as_a_conflicted_copy(bool carriesName)
    {
        // Arrange: the user had saved a copy of b.txt's bytes as a.txt (cp b.txt a.txt); a download displaced that save
        // and the previous version's client was killed while it looked at it. a.txt and b.txt are still as synced.
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("docs/a.txt", "version one of a");
        a.Write("docs/b.txt", "the bytes of b.txt");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        var holding = carriesName ? TempName.NewDisplaced("a.txt") : IgnoreMatcher.TempPrefix + "displaced-" + new string('e', 32);
        b.Write("docs/" + holding, "the bytes of b.txt");

        // Act
        var pass = await b.SyncAsync();

        // Assert: not taken for bytes the server holds under a file it displaced: kept, visible, as a conflicted copy.
        Assert.Equal(0, pass.Errors);
        Assert.Equal(1, pass.Conflicts);
        var copy = Assert.Single(Directory.GetFiles(b.PathOf("docs")).Select(Path.GetFileName), n => n is not "a.txt" and not "b.txt")!;
        Assert.StartsWith(carriesName ? "a" + ConflictNames.Marker : DisplacedFiles.FallbackName + ConflictNames.Marker, copy, StringComparison.Ordinal);
        Assert.Equal("the bytes of b.txt", b.Read("docs/" + copy));
        Assert.Equal("version one of a", b.Read("docs/a.txt"));
    }

    [Fact]
    public async Task A_name_less_leftover_equal_to_a_file_the_user_removed_is_kept_as_a_conflicted_copy()
    {
        // The user moved a.txt away (a missing file is no download left unrecorded); a name-less leftover holds a.txt's bytes.
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("docs/a.txt", "version one of a");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        File.Delete(b.PathOf("docs/a.txt"));
        b.Write("docs/" + IgnoreMatcher.TempPrefix + "displaced-" + new string('f', 32), "version one of a");

        var pass = await b.SyncAsync();

        Assert.Equal(1, pass.Conflicts);
        var copy = Assert.Single(Directory.GetFiles(b.PathOf("docs")).Select(Path.GetFileName))!;
        Assert.StartsWith(DisplacedFiles.FallbackName + ConflictNames.Marker, copy, StringComparison.Ordinal);
        Assert.Equal("version one of a", b.Read("docs/" + copy));
    }

    [Fact]
    public async Task A_leftover_holding_file_with_the_bytes_being_downloaded_is_removed()
    {
        // The previous version's downloader, killed after its download was exchanged into the holding name and before
        // it deleted it, left the new remote version's bytes there; this pass downloads that version again.
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("docs/x.txt", "version one");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        a.Write("docs/x.txt", "version two");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        b.Write("docs/" + IgnoreMatcher.TempPrefix + "displaced-" + new string('c', 32), "version two");

        var pass = await b.SyncAsync();

        Assert.Equal(0, pass.Errors + pass.Conflicts);
        Assert.Equal(["x.txt"], Directory.GetFiles(b.PathOf("docs")).Select(Path.GetFileName));
        Assert.Equal("version two", b.Read("docs/x.txt"));
    }

    [Fact]
    public async Task A_leftover_holding_file_with_bytes_the_server_never_had_is_kept()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("docs/synced.txt", "the synced bytes");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        // Same size as the synced file, other bytes: only the content tells them apart.
        b.Write("docs/" + IgnoreMatcher.TempPrefix + "displaced-" + new string('b', 32), "the SYNCED bytes");

        var pass = await b.SyncAsync();

        Assert.Equal(1, pass.Conflicts);
        var copy = Assert.Single(Directory.GetFiles(b.PathOf("docs")).Select(Path.GetFileName), n => n != "synced.txt")!;
        Assert.Equal("the SYNCED bytes", b.Read("docs/" + copy));
    }

    [Fact]
    public async Task A_file_made_at_the_conflicted_copy_name_right_before_the_leftover_is_moved_there_is_kept_too()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("docs/x.txt", "synced");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        b.Write("docs/" + TempName.NewDisplaced("x.txt"), UserBytes);
        // Something makes a file at the name picked, after it was found free and before the move.
        var raced = new List<string>();
        var engine = new SyncEngine(b.Context)
        {
            BeforeDisplacedMove = full =>
            {
                if (raced.Count == 0)
                {
                    raced.Add(full);
                    File.WriteAllText(full, "made meanwhile");
                }
            },
        };

        var pass = await engine.RunPassAsync(CancellationToken.None);

        Assert.Equal(0, pass.Errors);
        Assert.Equal("made meanwhile", File.ReadAllText(Assert.Single(raced)));
        var copies = Directory.GetFiles(b.PathOf("docs")).Where(f => f != raced[0] && Path.GetFileName(f) != "x.txt").ToList();
        Assert.Equal(UserBytes, File.ReadAllText(Assert.Single(copies)));
        Assert.Contains(ConflictNames.Marker, Path.GetFileName(copies[0]), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_leftover_kept_under_a_name_the_folders_dropboxignore_matches_stays_visible_and_is_not_uploaded()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("docs/.dropboxignore", "*.log");
        a.Write("docs/x.txt", "synced");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        b.Write("docs/" + TempName.NewDisplaced("build.log"), UserBytes);

        var pass = await b.SyncAsync();

        Assert.Equal(0, pass.Errors);
        var copy = Assert.Single(Directory.GetFiles(b.PathOf("docs")).Select(Path.GetFileName), n => n!.StartsWith("build" + ConflictNames.Marker, StringComparison.Ordinal))!;
        Assert.Equal(UserBytes, b.Read("docs/" + copy));
        Assert.Null(_server.Current("docs/" + copy));
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        Assert.Null(_server.Current("docs/" + copy));
    }

    [Fact]
    public async Task A_leftover_whose_conflicted_copy_name_would_be_too_long_is_kept_under_a_name_cut_to_fit()
    {
        // A carried name that fits the holding name, and a device name long enough that name, marker, device and date
        // do not fit one file name (255 bytes).
        var device = new string('d', 60);
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, device, _server);
        a.Write("docs/x.txt", "synced");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        var holding = TempName.NewDisplaced(new string('n', 195) + ".txt");
        Assert.True(TempName.IsDisplaced(holding, out var carried));
        Assert.NotNull(carried);
        b.Write("docs/" + holding, UserBytes);

        var pass = await b.SyncAsync();

        Assert.Equal(0, pass.Errors);
        var copy = Assert.Single(Directory.GetFiles(b.PathOf("docs")).Select(Path.GetFileName), n => n != "x.txt")!;
        // ConflictNames cuts the carried name's stem so the copy's name fits in 255 bytes (it keeps the marker and .txt).
        Assert.StartsWith("nnnn", copy, StringComparison.Ordinal);
        Assert.Contains(ConflictNames.Marker + device, copy, StringComparison.Ordinal);
        Assert.EndsWith(".txt", copy, StringComparison.Ordinal);
        Assert.True(System.Text.Encoding.UTF8.GetByteCount(copy) <= 255, copy);
        Assert.Equal(UserBytes, b.Read("docs/" + copy));
        Assert.NotNull(_server.Current("docs/" + copy));
    }

    [Fact]
    public async Task A_leftover_whose_carried_name_the_server_refuses_is_kept_under_the_short_name()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // a backslash is a separator there: no such name on disk
        }

        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("docs/x.txt", "synced");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        // A name this disk holds but the server refuses (a backslash): the displaced file was never synced under it.
        b.Write("docs/" + TempName.NewDisplaced(@"a\b.txt"), UserBytes);

        var pass = await b.SyncAsync();

        Assert.Equal(0, pass.Errors);
        var copy = Assert.Single(Directory.GetFiles(b.PathOf("docs")).Select(Path.GetFileName), n => n != "x.txt")!;
        Assert.StartsWith(DisplacedFiles.FallbackName + ConflictNames.Marker, copy, StringComparison.Ordinal);
        Assert.NotNull(_server.Current("docs/" + copy));
    }

    [Fact]
    public async Task A_leftover_the_file_system_refuses_to_move_to_its_long_name_is_kept_under_the_short_name()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("docs/x.txt", "synced");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        b.Write("docs/" + TempName.NewDisplaced("x.txt"), UserBytes);
        // A file system with a shorter name limit than the server's (eCryptfs: 143 bytes) refuses the carried name.
        var engine = new SyncEngine(b.Context)
        {
            BeforeDisplacedMove = full =>
            {
                if (Path.GetFileName(full).StartsWith("x" + ConflictNames.Marker, StringComparison.Ordinal))
                {
                    throw new IOException("File name too long", 36);
                }
            },
        };

        var pass = await engine.RunPassAsync(CancellationToken.None);

        Assert.Equal(0, pass.Errors);
        var copy = Assert.Single(Directory.GetFiles(b.PathOf("docs")).Select(Path.GetFileName), n => n != "x.txt")!;
        Assert.StartsWith(DisplacedFiles.FallbackName + ConflictNames.Marker, copy, StringComparison.Ordinal);
        Assert.Equal(UserBytes, b.Read("docs/" + copy));
    }

    [Fact]
    public async Task A_leftover_displaced_file_whose_name_did_not_fit_its_holding_name_is_kept_visible_beside_it()
    {
        // Arrange: a holding file as a killed download leaves it for a name too long to carry (or one from before the
        // name was carried).
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("docs/synced.txt", "synced");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        var holding = TempName.NewDisplaced(new string('n', 250) + ".txt");
        Assert.True(TempName.IsDisplaced(holding, out var carried));
        Assert.Null(carried);
        b.Write("docs/" + holding, UserBytes);

        // Act
        var pass = await b.SyncAsync();

        // Assert: kept under a visible conflicted-copy name in its own folder, and uploaded.
        Assert.Equal(0, pass.Errors);
        var copy = Assert.Single(Directory.GetFiles(b.PathOf("docs")).Select(Path.GetFileName), n => n != "synced.txt")!;
        Assert.StartsWith(DisplacedFiles.FallbackName + ConflictNames.Marker + "b ", copy, StringComparison.Ordinal);
        Assert.Equal(UserBytes, b.Read("docs/" + copy));
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal(UserBytes, a.Read("docs/" + copy));
    }

    [Fact]
    public async Task A_leftover_in_a_folder_replaced_remotely_by_a_file_goes_aside_with_the_folder_and_syncs_from_there()
    {
        // Arrange: docs/ synced on both; on a, docs becomes a file; b holds a leftover of the user's in docs/.
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("docs/x.txt", "synced");
        a.Write("other.txt", "so that no folder is ever empty");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        Directory.Delete(a.PathOf("docs"), recursive: true);
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        a.Write("docs", "a file now");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        b.Write("docs/" + TempName.NewDisplaced("x.txt"), UserBytes);

        // Act
        var pass = await b.SyncAsync();
        var next = await b.SyncAsync();

        // Assert: kept visible in the folder, which moves aside for the remote file (never sent under a path that is a
        // file on the server: no error), and sent from there by the next pass, so a has it.
        Assert.Equal(0, pass.Errors);
        Assert.Equal(0, next.Errors);
        Assert.Equal("a file now", b.Read("docs"));
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        var kept = Assert.Single(TestClient.FilesIn(a.Folder, "*", SearchOption.AllDirectories), f => File.ReadAllText(f) == UserBytes)!;
        Assert.Contains(ConflictNames.Marker, Path.GetFileName(kept), StringComparison.Ordinal);
        Assert.Contains(ConflictNames.Marker, Path.GetFileName(Path.GetDirectoryName(kept)), StringComparison.Ordinal);
    }

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
