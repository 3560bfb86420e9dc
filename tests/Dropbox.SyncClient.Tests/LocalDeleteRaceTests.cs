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
        Assert.Equal(1, (await b.SyncAsync()).FilesUploaded);
        await a.SyncAsync();
        Assert.Equal("synced text, and the user's new line", a.Read("f.txt"));
    }

    [Fact]
    public async Task A_write_in_the_window_is_kept_when_the_state_directory_is_on_another_file_system()
    {
        // Arrange: f.txt synced by A and by B, whose folder is on the temp folder's disk and whose state directory (and
        // so the trash) is on tmpfs; then deleted on A.
        using var a = new TestClient(_dir, "a", _server);
        ChangeTimeTests.WriteSettled(a, "f.txt", "synced text");
        ChangeTimeTests.WriteSettled(a, "g.txt", "stays");
        await a.SyncAsync();
        var folder = _dir.CreateSub("b-folder");
        using var state = LocalState.Open(Directory.CreateDirectory(_otherDisk).FullName);
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

        // Act: the user appends after B checked f.txt and before B moved it to the trash (a copy, across file systems).
        state.Writer.Step = step =>
        {
            if (step == "before trashing f.txt")
            {
                File.AppendAllText(Path.Combine(folder, "f.txt"), ", and the user's new line");
            }
        };
        var pass = await b.RunPassAsync(CancellationToken.None);
        state.Writer.Step = null;

        // Assert: the edit is back in the folder, with no error (the move back went by copy too).
        Assert.True(pass.ErrorMessages.Count == 0, string.Join("; ", pass.ErrorMessages));
        Assert.Equal("synced text, and the user's new line", File.ReadAllText(Path.Combine(folder, "f.txt")));
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

    private async Task<(TestClient A, TestClient B)> SyncedThenDeletedOnAAsync()
    {
        var a = new TestClient(_dir, "a", _server);
        var b = new TestClient(_dir, "b", _server);
        ChangeTimeTests.WriteSettled(a, "f.txt", "synced text");
        ChangeTimeTests.WriteSettled(a, "g.txt", "stays");
        await a.SyncAsync();
        await b.SyncAsync();
        File.Delete(a.PathOf("f.txt"));
        await a.SyncAsync();
        return (a, b);
    }

    private static ulong? Device(string folder)
    {
        using var handle = FolderHandle.TryOpenRoot(folder);
        return handle?.TryIdentity()?.Device;
    }
}
