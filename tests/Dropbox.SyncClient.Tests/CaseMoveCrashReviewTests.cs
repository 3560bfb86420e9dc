using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// Review rd51's probes of a crash before the case-conflict rename's db write (rows left at the old name, the folder
/// renamed here and on the server), followed by more changes of another device: every byte kept and the two sides the
/// same. A delete of x.txt is undone in these (the file sent back, as before stop 51: rows are not moved by what is on
/// disk, which took a folder the user made at that name; review rd51b). Set-up as <see cref="CaseMoveCrashDeleteTests"/>.
/// </summary>
public sealed class CaseMoveCrashReviewTests : IDisposable
{
    private const string Moved = CaseClash.Moved;

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    private Task<TestClient> ClashAsync() => CaseClash.SyncedAsync(_dir, _server);

    private static async Task CrashAsync(TestClient a, string stepPrefix)
    {
        string? crashedAt = null;
        a.State.Writer.Step = step =>
        {
            if (crashedAt is null && step.StartsWith(stepPrefix, StringComparison.Ordinal))
            {
                crashedAt = step;
                throw new IOException("crash at " + step);
            }
        };
        await Assert.ThrowsAnyAsync<Exception>(() => a.SyncAsync());
        a.State.Writer.Step = null;
        Assert.NotNull(crashedAt);
    }

    private string State(TestClient a, List<string> notes) =>
        $"here [{string.Join(", ", TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a.Folder, f)))}]; notes: [{string.Join(" | ", notes)}]";


    /// <summary>
    /// Crash before the rename's db write; then the other device makes sub/new.txt at the new name and deletes x.txt there
    /// (after the move): the new file arrives, every byte is kept, the sides end the same.
    /// </summary>
    [Fact]
    public async Task Changes_at_the_new_name_after_the_move_are_taken_after_a_crash()
    {
        using var a = await ClashAsync();
        await CrashAsync(a, "before db move");
        await _server.DeleteFileAsync(new DeleteFileRequest { Path = $"{Moved}/x.txt", Device = "b" }, CancellationToken.None);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, $"{Moved}/sub/new.txt", "made there after the move", client: "b");

        var notes = await Convergence.SettleAsync(a);

        Assert.Equal("made there after the move", a.Read($"{Moved}/sub/new.txt"));
        Assert.Equal("a as synced", a.Read($"{Moved}/sub/a.txt"));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// Crash before the rename's db write (x.txt deleted by the other device before the move); then the other device moves
    /// sub on, out of the renamed folder, with a.txt edited here (at the new name) or not: a.txt's bytes are kept and the
    /// two sides end the same.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_folder_moved_on_after_the_crash_keeps_its_files(bool editedHere)
    {
        using var a = await ClashAsync();
        _server.BeforeMoveFile = async _ =>
        {
            _server.BeforeMoveFile = null;
            await _server.DeleteFileAsync(new DeleteFileRequest { Path = "docs/x.txt", Device = "b" }, CancellationToken.None);
        };
        await CrashAsync(a, "before db move");
        await _server.CreateFolderAsync(new CreateFolderRequest { Path = "other", Device = "b" }, CancellationToken.None);
        await _server.MoveFileAsync(new MoveFileRequest { FromPath = $"{Moved}/sub", ToPath = "other/sub", Device = "b" }, CancellationToken.None);
        if (editedHere)
        {
            File.WriteAllText(a.PathOf($"{Moved}/sub/a.txt"), "a edited here after the crash");
        }

        var notes = await Convergence.SettleAsync(a);

        var contents = TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(File.ReadAllText).ToList();
        Assert.True(contents.Contains(editedHere ? "a edited here after the crash" : "a as synced"), "a.txt's bytes lost: " + State(a, notes));

        await Convergence.AssertSameAsync(_server, a, notes);
    }
}
