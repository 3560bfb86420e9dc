using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A FOLDER another device deletes before a case-conflict move of the folder above it, read by a pass whose cursor is
/// older than both: <see cref="Sync.DeletesBeforeCaseMoves"/> puts the folder's delete (and its files') at the new name as
/// it does a file's, so the folder's row follows the move and the delete removes it here. Left at the old path (a rule for
/// file deletes alone), the row stayed behind, the folder here moved with its parent and was new under the new name: made
/// again on the server, the other device's delete undone. The planner model's seed 4wMSN0b-a4m1 is this with an empty
/// folder (there a fault of the model: it did not remember the delete at the new name as the engine's MoveRows does).
/// Set-up as <see cref="CaseMoveCrashDeleteTests"/>.
/// </summary>
public sealed class FolderDeleteBeforeCaseMoveTests : IDisposable
{
    private const string Moved = CaseClash.Moved;

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>
    /// The folder <paramref name="name"/> (under docs, deleted by the other device with what was in it) must be neither here
    /// nor on the server, under either name; x.txt kept on both sides at the new name.
    /// </summary>
    private async Task AssertFolderDeleteKeptAsync(TestClient a, string name, List<string> notes)
    {
        var onServer = _server.Current($"{Moved}/{name}") is not null || _server.Current($"{Moved}/{name}/a.txt") is not null || _server.Current($"docs/{name}") is not null;
        var here = Directory.Exists(a.PathOf($"{Moved}/{name}")) || Directory.Exists(a.PathOf($"docs/{name}"));
        var state = $"here [{string.Join(", ", Directory.GetFileSystemEntries(a.Folder, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a.Folder, f)).Order(StringComparer.Ordinal))}]; notes: [{string.Join(" | ", notes)}]";
        Assert.False(onServer || here, $"the folder {name}, deleted on the server by another device before the move, is {(onServer ? "on the server again" : "still here")}: {state}");
        Assert.Equal("x as synced", a.Read($"{Moved}/x.txt"));
        Assert.NotNull(_server.Current($"{Moved}/x.txt"));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// Another device deletes docs/<paramref name="name"/>, then moves docs to its case-conflict name; this client, with 'Docs'
    /// and 'docs' here, reads both in one pass and follows the move. sub holds a.txt; empty holds nothing (the planner
    /// model's case: a rule for file deletes alone left it behind and made it again on the server).
    /// </summary>
    [Theory]
    [InlineData("sub")]
    [InlineData("empty")]
    public async Task A_folder_deleted_before_another_devices_case_conflict_move_is_deleted_here(string name)
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server, "docs/empty");
        await _server.DeleteFileAsync(new DeleteFileRequest { Path = $"docs/{name}", Device = "b" }, CancellationToken.None);
        await _server.MoveFileAsync(new MoveFileRequest { FromPath = "docs", ToPath = Moved, Device = "b" }, CancellationToken.None);

        var notes = await Convergence.SettleAsync(a);

        await AssertFolderDeleteKeptAsync(a, name, notes);
    }

    /// <summary>
    /// This client's own case-conflict move of docs, the other device deleting docs/<paramref name="name"/> right before it, and a crash
    /// between the server's move and the rename here: the next pass follows the move as another device's.
    /// </summary>
    [Theory]
    [InlineData("sub")]
    [InlineData("empty")]
    public async Task A_folder_deleted_before_the_move_stays_deleted_after_a_crash_between_the_server_move_and_the_rename_here(string name)
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server, "docs/empty");
        CaseClash.DeleteBeforeTheMove(_server, $"docs/{name}");
        string? crashedAt = null;
        a.State.Writer.Step = step =>
        {
            if (crashedAt is null && step.StartsWith("before case-conflict rename", StringComparison.Ordinal))
            {
                crashedAt = step;
                throw new IOException("crash at " + step);
            }
        };
        await Assert.ThrowsAnyAsync<Exception>(() => a.SyncAsync());
        a.State.Writer.Step = null;
        Assert.NotNull(crashedAt);
        Assert.NotNull(_server.Current($"{Moved}/x.txt"));
        Assert.True(Directory.Exists(a.PathOf($"docs/{name}")));

        var notes = await Convergence.SettleAsync(a);

        await AssertFolderDeleteKeptAsync(a, name, notes);
    }
}
