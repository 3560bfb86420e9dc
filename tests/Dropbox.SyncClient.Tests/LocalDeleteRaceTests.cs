using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A remote delete applied here checks the file, then moves it to the trash: two steps, with the user free to write in
/// between (found by the simulation, seed 203, once a step fell there). What the move took is what counts.
/// </summary>
public sealed class LocalDeleteRaceTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();
    private readonly string _otherDisk = Path.Combine("/dev/shm", "dbx-trash-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        _dir.Dispose();
        if (Directory.Exists(_otherDisk))
        {
            Directory.Delete(_otherDisk, recursive: true);
        }
    }

    [Fact]
    public async Task A_file_renamed_away_and_back_during_the_pass_that_deletes_it_is_sent_again_not_kept_alone()
    {
        // Simulation seed 20495: the user moved the file's folder away and the file back mid-pass; its bytes, size and
        // mtime as synced, only its ctime moved. The delete kept it ("changed here") and the cursor moved past the remote
        // delete, so the next pass found it as synced and unchanged: on this device alone, for good. Kept, it is sent
        // again as a new file, so both devices and the server hold it.
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        ChangeTimeTests.WriteSettled(a, "d/y.dat", "synced bytes");
        ChangeTimeTests.WriteSettled(a, "keep.txt", "stays");
        await a.SyncAsync();
        await b.SyncAsync();
        File.Delete(b.PathOf("d/y.dat"));
        b.Write("n.txt", "new on b"); // a downloads it in the same pass, before its deletes
        await b.SyncAsync();

        var engine = a.EngineWith(a.Context.Options, line =>
        {
            if (line.StartsWith("downloaded 'n.txt'", StringComparison.Ordinal))
            {
                File.Move(a.PathOf("d/y.dat"), a.PathOf("y.moved"));
                File.Move(a.PathOf("y.moved"), a.PathOf("d/y.dat"));
            }
        });
        var first = await engine.RunPassAsync(CancellationToken.None);
        var second = await a.SyncAsync();
        await b.SyncAsync();

        Assert.Equal(0, first.Errors + second.Errors);
        Assert.Equal("synced bytes", a.Read("d/y.dat"));
        Assert.NotNull(_server.Current("d/y.dat")); // without: kept here, never sent (the server and b without it)
        Assert.Contains("'d/y.dat' was deleted remotely but changed here; kept, and sent again as a new file", first.Notes);
        Assert.Equal(1, first.Pending); // so a daemon runs the next pass soon: a ctime-only change may wake no watcher
        Assert.Equal("synced bytes", b.Read("d/y.dat"));
        Assert.Equal("new on b", a.Read("n.txt"));
    }

    [Fact]
    public async Task A_write_between_the_delete_check_and_the_move_to_the_trash_is_kept_and_sent()
    {
        // Arrange: f.txt synced on both devices, then deleted on A (g.txt stays: no mass-delete guard).
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        ChangeTimeTests.WriteSettled(a, "f.txt", "synced text");
        ChangeTimeTests.WriteSettled(a, "g.txt", "stays");
        await a.SyncAsync();
        await b.SyncAsync();
        File.Delete(a.PathOf("f.txt"));
        await a.SyncAsync();

        // Act: B applies the delete; the user appends to f.txt after B checked it and before B moved it away.
        var appended = false;
        b.State.Writer.Step = step =>
        {
            if (step == "before trashing f.txt")
            {
                File.AppendAllText(b.PathOf("f.txt"), ", and the user's new line");
                appended = true;
            }
        };
        var pass = await b.SyncAsync();
        b.State.Writer.Step = null;

        // Assert: the user's bytes stay in the folder, then reach the server and A.
        Assert.True(appended);
        Assert.Equal(0, pass.FilesDeleted);
        Assert.True(File.Exists(b.PathOf("f.txt")), "the user's edited f.txt went to the trash with the delete");
        Assert.Equal("synced text, and the user's new line", b.Read("f.txt"));
        Assert.Contains(pass.Notes, n => n.Contains("'f.txt' was deleted remotely but changed here while it was deleted; kept", StringComparison.Ordinal));
        Assert.Equal(1, pass.Pending); // a daemon runs the pass that sends it soon
        Assert.Equal(1, (await b.SyncAsync()).FilesUploaded);
        await a.SyncAsync();
        Assert.Equal("synced text, and the user's new line", a.Read("f.txt"));
    }

    [Fact]
    public async Task A_write_in_the_window_is_kept_when_the_state_directory_is_on_another_file_system()
    {
        // Arrange: B's trash on another file system than its folder; f.txt deleted on A.
        var (b, state, folder) = await OtherDiskClientThenDeletedOnAAsync();
        using var _ = state;

        // Act: the user appends after B checked f.txt and before B took it off its name.
        state.Writer.Step = step =>
        {
            if (step == "before trashing f.txt")
            {
                File.AppendAllText(Path.Combine(folder, "f.txt"), ", and the user's new line");
            }
        };
        var pass = await b.RunPassAsync(CancellationToken.None);
        state.Writer.Step = null;

        // Assert: the edit is back in the folder, with no error.
        Assert.True(pass.ErrorMessages.Count == 0, string.Join("; ", pass.ErrorMessages));
        Assert.Equal("synced text, and the user's new line", File.ReadAllText(Path.Combine(folder, "f.txt")));
    }

    [Theory]
    [InlineData("after trashing f.txt")]
    [InlineData("after copying f.txt")]
    public async Task A_write_through_an_open_handle_while_the_file_goes_to_a_trash_on_another_file_system_is_kept(string when)
    {
        // Arrange: B's trash on another file system than its folder; f.txt deleted on A; an editor on B holds f.txt open.
        var (b, state, folder) = await OtherDiskClientThenDeletedOnAAsync();
        using var _ = state;
        using var editor = new FileStream(Path.Combine(folder, "f.txt"), FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);

        // Act: the editor writes through its handle once the file is off its name (where a copy to the other disk would
        // leave the write in a file nobody can open), or once it is copied to the trash.
        var written = false;
        state.Writer.Step = step =>
        {
            if (step == when)
            {
                AppendLine(editor);
                written = true;
            }
        };
        var pass = await b.RunPassAsync(CancellationToken.None);
        state.Writer.Step = null;

        // Assert: the write is in the folder, at its name, and nothing was deleted.
        Assert.True(written, $"no step '{when}'");
        Assert.True(pass.ErrorMessages.Count == 0, string.Join("; ", pass.ErrorMessages));
        Assert.Equal(0, pass.FilesDeleted);
        Assert.Equal("synced text, and the user's new line", File.ReadAllText(Path.Combine(folder, "f.txt")));
        Assert.Empty(Directory.GetFiles(folder, ".dropbox.tmp-*"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("before moving d/f.txt into the trash")]
    [InlineData("before putting back d/f.txt")]
    public async Task A_write_while_the_file_is_held_is_kept_in_the_folder_also_where_its_folder_is_renamed(string? renameWhen)
    {
        // Arrange: d/f.txt synced on both and deleted on A; an editor on B holds d/f.txt open.
        var (a, b) = await SyncedThenDeletedOnAAsync("d/f.txt");
        using var _ = a;
        using var __ = b;
        using var editor = Editor(b.PathOf("d/f.txt"));

        // Act: while B holds the file aside, right before it goes into the trash, the editor writes; the user renames d
        // to e then, or once B found the write and is about to put the file back, or not at all; then B and A sync on.
        b.State.Writer.Step = step =>
        {
            if (step == "before moving d/f.txt into the trash")
            {
                AppendLine(editor);
            }

            if (step == renameWhen)
            {
                Directory.Move(b.PathOf("d"), b.PathOf("e"));
            }
        };
        await b.SyncAsync();
        b.State.Writer.Step = null;
        editor.Dispose();
        for (var i = 0; i < 3; i++)
        {
            await b.SyncAsync();
            await a.SyncAsync();
        }

        // Assert: the edit is in a visible file under e/ on both devices, nothing of it only in B's trash or hidden.
        static string[] Edited(string folder) => Directory.GetFiles(folder, "*", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).StartsWith('.') && File.ReadAllText(f) == "synced text, and the user's new line").ToArray();
        Assert.Single(Edited(b.Folder));
        Assert.Single(Edited(a.Folder));
        Assert.Empty(Directory.GetFiles(b.Folder, ".dropbox.tmp-*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_write_between_the_last_look_and_the_unlink_on_another_file_system_is_in_the_trash()
    {
        // Arrange
        var (b, state, folder) = await OtherDiskClientThenDeletedOnAAsync();
        using var _ = state;
        using var editor = new FileStream(Path.Combine(folder, "f.txt"), FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);

        // Act: the editor writes through its handle after the copy was checked, right before the held file is unlinked.
        state.Writer.Step = step =>
        {
            if (step == "before deleting the held file f.txt")
            {
                AppendLine(editor);
            }
        };
        var pass = await b.RunPassAsync(CancellationToken.None);
        state.Writer.Step = null;

        // Assert: deleted, as it would be after a rename on one disk: the write is in the trash's copy.
        Assert.True(pass.ErrorMessages.Count == 0, string.Join("; ", pass.ErrorMessages));
        Assert.Equal(1, pass.FilesDeleted);
        var trashed = Directory.GetFiles(Path.Combine(_otherDisk, "trash"), "f.txt*", SearchOption.AllDirectories);
        Assert.Equal("synced text, and the user's new line", File.ReadAllText(Assert.Single(trashed)));
    }

    [Fact]
    public async Task A_file_of_the_days_trash_in_the_way_of_a_folder_does_not_stop_the_delete()
    {
        // Arrange: d/f.txt synced on both and deleted on A; in B's trash of today (and tomorrow's, for a pass across
        // midnight) a file 'd', as a file d deleted earlier that day leaves.
        var (a, b) = await SyncedThenDeletedOnAAsync("d/f.txt");
        using var _ = a;
        using var __ = b;
        foreach (var day in new[] { DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1) })
        {
            var folder = LocalTrash.DayFolder(b.State.StateDirectory, day);
            Directory.CreateDirectory(folder);
            File.WriteAllText(Path.Combine(folder, "d"), "an earlier deleted file d");
        }

        // Act
        var pass = await b.SyncAsync();

        // Assert: deleted here, kept in the trash elsewhere in the day's folder.
        Assert.True(pass.ErrorMessages.Count == 0, string.Join("; ", pass.ErrorMessages));
        Assert.Equal(1, pass.FilesDeleted);
        Assert.False(File.Exists(b.PathOf("d/f.txt")));
        var trashed = Directory.GetFiles(Path.Combine(b.State.StateDirectory, "trash"), "f.txt", SearchOption.AllDirectories);
        Assert.Equal("synced text", File.ReadAllText(Assert.Single(trashed)));
    }

    [Fact]
    public async Task A_trash_that_cannot_take_the_file_leaves_it_at_its_name_with_an_error_and_the_delete_goes_through_later()
    {
        // Arrange: f.txt synced on both, deleted on A; on B a file where the trash folder should be.
        var (a, b) = await SyncedThenDeletedOnAAsync();
        using var _ = a;
        using var __ = b;
        var trash = Path.Combine(b.State.StateDirectory, "trash");
        if (Directory.Exists(trash))
        {
            Directory.Delete(trash, recursive: true);
        }

        File.WriteAllText(trash, "in the way");

        // Act
        var failed = await b.SyncAsync();
        var afterFailed = (Text: b.Read("f.txt"), Hidden: Directory.GetFiles(b.Folder, ".dropbox.tmp-*"));
        File.Delete(trash);
        var later = await b.SyncAsync();

        // Assert: first f.txt stays as it was, with the reason; once the trash can take it, the delete is applied.
        Assert.Contains(failed.ErrorMessages, e => e.Contains("f.txt", StringComparison.Ordinal) && e.Contains("trash", StringComparison.Ordinal));
        Assert.Equal(0, failed.FilesDeleted);
        Assert.Equal("synced text", afterFailed.Text);
        Assert.Empty(afterFailed.Hidden);
        Assert.True(later.ErrorMessages.Count == 0, string.Join("; ", later.ErrorMessages));
        Assert.Equal(1, later.FilesDeleted);
        Assert.False(File.Exists(b.PathOf("f.txt")));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_client_stopped_while_the_file_is_off_its_name_leaves_nothing_hidden_and_keeps_any_write(bool writeInTheWindow)
    {
        // Arrange
        var (a, b) = await SyncedThenDeletedOnAAsync();
        using var _ = a;
        using var __ = b;

        // Act: B is stopped right after f.txt is taken off its name (after a write in the window, or none); then runs again.
        b.State.Writer.Step = step =>
        {
            if (step == "before trashing f.txt" && writeInTheWindow)
            {
                File.AppendAllText(b.PathOf("f.txt"), ", and the user's new line");
            }
            else if (step == "after trashing f.txt")
            {
                throw new OperationCanceledException("stopped");
            }
        };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => b.SyncAsync());
        b.State.Writer.Step = null;
        await b.SyncAsync();
        await b.SyncAsync();
        await a.SyncAsync();

        // Assert: no hidden file left; the synced bytes are gone (the server holds them), a write is kept as a conflicted
        // copy on both devices.
        Assert.Empty(Directory.GetFiles(b.Folder, ".dropbox.tmp-*"));
        Assert.False(File.Exists(b.PathOf("f.txt")));
        var copies = Directory.GetFiles(b.Folder, "f*conflict*");
        if (writeInTheWindow)
        {
            Assert.Equal("synced text, and the user's new line", File.ReadAllText(Assert.Single(copies)));
            Assert.Equal("synced text, and the user's new line", a.Read(Path.GetFileName(copies[0])));
        }
        else
        {
            Assert.Empty(copies);
        }
    }

    /// <summary>
    /// Found by the simulation's editors (seeds 271 and 2900): the next pass removed a leftover holding file that held the
    /// synced bytes by a look, then an unlink (DisplacedFiles.SameAsOnServerAsync). An editor that held the file open since
    /// before the client was stopped wrote to the leftover between the two, and the unlink took the write with it. Now the
    /// leftover goes to the trash through LocalTrash.TryMoveIn, which looks again after giving it its trash name.
    /// </summary>
    [Fact]
    public async Task A_write_through_an_open_handle_to_a_leftover_between_its_check_and_its_removal_is_kept()
    {
        // Arrange: f.txt synced on both, deleted on A; the user holds f.txt open in an editor on B; B is stopped right
        // after taking f.txt off its name (the editor's handle now reads the hidden holding file).
        var (a, b) = await SyncedThenDeletedOnAAsync();
        using var _ = a;
        using var __ = b;
        using var editor = File.OpenHandle(b.PathOf("f.txt"), FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        b.State.Writer.Step = step =>
        {
            if (step == "after trashing f.txt")
            {
                throw new OperationCanceledException("stopped");
            }
        };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => b.SyncAsync());

        // Act: B runs again and finds the leftover as synced; the editor appends to it right after that look.
        var wrote = false;
        b.State.Writer.Step = step =>
        {
            if (step.StartsWith("before deleting the leftover ", StringComparison.Ordinal))
            {
                RandomAccess.Write(editor, ", and the user's new line"u8, RandomAccess.GetLength(editor));
                wrote = true;
            }
        };
        await b.SyncAsync();
        b.State.Writer.Step = null;
        await b.SyncAsync();
        await a.SyncAsync();

        // Assert: the user's bytes are in a file of either folder (a conflicted copy), as any write in a delete's window.
        Assert.True(wrote, "the pass did not remove the leftover (no 'before deleting the leftover' step)");
        var files = Directory.GetFiles(b.Folder, "*", SearchOption.AllDirectories).Concat(Directory.GetFiles(a.Folder, "*", SearchOption.AllDirectories));
        Assert.True(files.Any(f => File.ReadAllText(f) == "synced text, and the user's new line"),
            "the write through the editor's handle went with the leftover's unlink: in no file of either folder");
    }

    [Fact]
    public async Task A_new_file_at_the_name_after_the_move_keeps_it_and_the_edit_goes_to_a_conflicted_copy()
    {
        // Arrange
        var (a, b) = await SyncedThenDeletedOnAAsync();
        using var _ = a;
        using var __ = b;

        // Act: the user appends in the window, and a new f.txt appears right after the move to the trash.
        await AppendInTheWindowAsync(b, then: () => File.WriteAllText(b.PathOf("f.txt"), "a brand new file"));
        await b.SyncAsync();
        await a.SyncAsync();

        // Assert: both kept on both devices.
        Assert.Equal("a brand new file", b.Read("f.txt"));
        var copy = Path.GetFileName(Assert.Single(Directory.GetFiles(b.Folder, "f*conflict*")));
        Assert.Equal("synced text, and the user's new line", b.Read(copy));
        Assert.Equal("a brand new file", a.Read("f.txt"));
        Assert.Equal("synced text, and the user's new line", a.Read(copy));
    }

    [Fact]
    public async Task A_folder_at_the_name_after_the_move_syncs_and_the_edit_goes_to_a_conflicted_copy()
    {
        // Arrange
        var (a, b) = await SyncedThenDeletedOnAAsync();
        using var _ = a;
        using var __ = b;

        // Act: the user appends in the window, and makes a folder f.txt/ right after the move to the trash.
        await AppendInTheWindowAsync(b, then: () =>
        {
            Directory.CreateDirectory(b.PathOf("f.txt"));
            File.WriteAllText(b.PathOf("f.txt/inner.txt"), "inner");
        });
        var later = new List<SyncSummary> { await b.SyncAsync(), await a.SyncAsync() };

        // Assert: the folder reaches A (the file's row did not stay to make it a kind clash), and so does the copy.
        Assert.DoesNotContain(later, s => s.Notes.Any(n => n.Contains("a file on one side and a folder on the other", StringComparison.Ordinal)));
        Assert.Equal("inner", a.Read("f.txt/inner.txt"));
        var copy = Path.GetFileName(Assert.Single(Directory.GetFiles(b.Folder, "f*conflict*")));
        Assert.Equal("synced text, and the user's new line", a.Read(copy));
    }

    /// <summary>B's pass over A's delete of f.txt: the user appends to f.txt right before the move to the trash, and does <paramref name="then"/> right after it.</summary>
    private static async Task AppendInTheWindowAsync(TestClient b, Action then)
    {
        b.State.Writer.Step = step =>
        {
            if (step == "before trashing f.txt")
            {
                File.AppendAllText(b.PathOf("f.txt"), ", and the user's new line");
            }
            else if (step == "after trashing f.txt")
            {
                then();
            }
        };
        await b.SyncAsync();
        b.State.Writer.Step = null;
    }

    /// <summary><paramref name="path"/> (and g.txt, so no mass-delete guard) synced by A and B, then deleted on A.</summary>
    private async Task<(TestClient A, TestClient B)> SyncedThenDeletedOnAAsync(string path = "f.txt")
    {
        var a = new TestClient(_dir, "a", _server);
        var b = new TestClient(_dir, "b", _server);
        ChangeTimeTests.WriteSettled(a, path, "synced text");
        ChangeTimeTests.WriteSettled(a, "g.txt", "stays");
        await a.SyncAsync();
        await b.SyncAsync();
        File.Delete(a.PathOf(path));
        await a.SyncAsync();
        return (a, b);
    }

    [Fact]
    public async Task A_client_stopped_while_a_long_named_file_is_off_its_name_does_not_bring_it_back()
    {
        // Arrange: a file whose name (220 bytes) leaves no room in its holding name, synced on both, deleted on A.
        var name = new string('n', 216) + ".txt";
        var (a, b) = await SyncedThenDeletedOnAAsync(name);
        using var _ = a;
        using var __ = b;

        // Act: B is stopped right after the file is taken off its name; then runs again, and A after it.
        b.State.Writer.Step = step =>
        {
            if (step == $"after trashing {name}")
            {
                throw new OperationCanceledException("stopped");
            }
        };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => b.SyncAsync());
        b.State.Writer.Step = null;
        var next = await b.SyncAsync();
        await a.SyncAsync();

        // Assert: the leftover went to the trash (its bytes are the deleted file's synced ones); nothing came back on
        // either device.
        Assert.Empty(Directory.GetFiles(b.Folder, ".dropbox.tmp-*"));
        var trashed = Directory.GetFiles(Path.Combine(b.State.StateDirectory, "trash"), name, SearchOption.AllDirectories);
        Assert.Equal("synced text", File.ReadAllText(Assert.Single(trashed)));
        Assert.Equal(0, next.Conflicts);
        Assert.Equal(["g.txt"], Directory.GetFiles(b.Folder).Select(Path.GetFileName).Where(n => n != ".dropbox-folder-id").Order());
        Assert.Equal(["g.txt"], Directory.GetFiles(a.Folder).Select(Path.GetFileName).Where(n => n != ".dropbox-folder-id").Order());
    }

    /// <summary>f.txt (and g.txt) synced by A and by B, whose folder is on the temp folder's disk and whose state directory (and so the trash) is on tmpfs; then f.txt deleted on A.</summary>
    private async Task<(SyncEngine B, LocalState State, string Folder)> OtherDiskClientThenDeletedOnAAsync()
    {
        using var a = new TestClient(_dir, "a", _server);
        ChangeTimeTests.WriteSettled(a, "f.txt", "synced text");
        ChangeTimeTests.WriteSettled(a, "g.txt", "stays");
        await a.SyncAsync();
        var folder = _dir.CreateSub("b-folder");
        var state = LocalState.Open(Directory.CreateDirectory(_otherDisk).FullName);
        Assert.True(Device(folder) != Device(_otherDisk), $"the test needs {_otherDisk} on another file system than {folder}");
        var b = new SyncEngine(new SyncContext
        {
            Folder = folder, State = state, Metadata = _server, Transfer = _server,
            Chunker = new PipelineChunkSource(new Dropbox.Shared.Chunking.FastCdcChunker(TestClient.SmallChunks), compress: true, parallelism: 2),
            Device = "b", Options = new SyncOptions(), Barrier = DurabilityBarrier.Default, Time = TimeProvider.System,
            ExecutableBitProbe = ExecutableBitProbe.Holds, CaseProbe = CaseProbe.Folds, Progress = new SyncProgress(),
        });
        await b.RunPassAsync(CancellationToken.None);
        File.Delete(a.PathOf("f.txt"));
        await a.SyncAsync();
        return (b, state, folder);
    }

    /// <summary>An editor's handle on the file, open for appending across the client's steps (as an editor holds one).</summary>
    private static FileStream Editor(string full) => new(full, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);

    /// <summary>The user's new line, written through <paramref name="editor"/> and handed to the kernel at once.</summary>
    private static void AppendLine(FileStream editor)
    {
        editor.Write(", and the user's new line"u8);
        editor.Flush();
    }

    private static ulong? Device(string folder)
    {
        using var handle = FolderHandle.TryOpenRoot(folder);
        return handle?.TryIdentity()?.Device;
    }
}
