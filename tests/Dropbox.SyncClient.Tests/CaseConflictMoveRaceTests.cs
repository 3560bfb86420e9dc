using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// Another device changes the losing folder on the server between this pass's listing and this client's case-conflict
/// move of it (the server's <see cref="FakeServer.BeforeMoveFile"/>): after a few passes this client and the server hold
/// the same files with the same bytes (from review-fp49's probes: an unconditional move of the folder, tried on
/// s49-fixpoint and reverted, took a folder made again there and left a file here the server never had).
/// </summary>
public sealed class CaseConflictMoveRaceTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>'Docs' synced, then 'docs' with x.txt made beside it from the web and synced here: the next pass renames 'docs'.</summary>
    private async Task<TestClient> ClashAsync()
    {
        var a = new TestClient(_dir, "a", _server);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "Docs/y.txt", "older");
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "stage/g.txt", "the other device's new file", client: "web1");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        await _server.CreateFolderAsync(new CreateFolderRequest { Path = "docs", Device = "web" }, CancellationToken.None);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "docs/x.txt", "synced here, deleted by the other device", client: "web2");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal("synced here, deleted by the other device", a.Read("docs/x.txt"));
        return a;
    }

    private async Task CommitStagedAsync(string path)
    {
        var staged = _server.Current("stage/g.txt")!;
        var commit = new CommitFileRequest { Path = path, Size = staged.Size, MtimeUnixMs = staged.MtimeUnixMs, Device = "b" };
        commit.Chunks.AddRange(staged.Chunks);
        await _server.CommitFileAsync(commit, CancellationToken.None);
    }

    /// <summary>Right before this client's next move, the other device deletes 'docs' and makes it again with a new file.</summary>
    private void MakeFolderAgainBeforeTheMove() => _server.BeforeMoveFile = async request =>
    {
        _server.BeforeMoveFile = null;
        await _server.DeleteFileAsync(new DeleteFileRequest { Path = "docs", Device = "b" }, CancellationToken.None);
        await _server.CreateFolderAsync(new CreateFolderRequest { Path = "docs", Device = "b" }, CancellationToken.None);
        await CommitStagedAsync("docs/g.txt");
    };

    private async Task<List<string>> SettleAsync(TestClient a)
    {
        var notes = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var pass = await a.SyncAsync();
            notes.AddRange(pass.Notes);
            Assert.Equal(0, pass.Errors);
        }

        return notes;
    }

    private async Task AssertSameAsync(TestClient a, List<string> notes)
    {
        var server = (await _server.ListFilesAsync(new ListFilesRequest { Prefix = string.Empty }, CancellationToken.None)).Entries
            .Where(e => e.Kind == EntryKind.File && !e.Deleted).Select(e => e.Path).Order(StringComparer.Ordinal).ToList();
        var local = TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(a.Folder, f).Replace('\\', '/')).Order(StringComparer.Ordinal).ToList();
        Assert.True(server.SequenceEqual(local),
            $"server [{string.Join(", ", server)}] but here [{string.Join(", ", local)}]; notes: [{string.Join(" | ", notes)}]");
    }

    /// <summary>
    /// Another device deletes 'docs' and makes it again (a new folder, one new file in it) right before this client's
    /// move: the move, conditional on the folder's version here, is refused rather than taking the new folder (moved
    /// with version 0, it did, and x.txt's row moved to a path the server never had: its delete reached no row).
    /// </summary>
    [Fact]
    public async Task A_folder_made_again_between_listing_and_move_converges()
    {
        using var a = await ClashAsync();
        MakeFolderAgainBeforeTheMove();

        var notes = await SettleAsync(a);
        await AssertSameAsync(a, notes);
    }

    /// <summary>
    /// As <see cref="A_folder_made_again_between_listing_and_move_converges"/>, then the user here edits the file
    /// under the renamed folder: the edit must reach the server, never be dropped.
    /// </summary>
    [Fact]
    public async Task An_edit_after_a_folder_made_again_before_the_move_reaches_the_server()
    {
        using var a = await ClashAsync();
        MakeFolderAgainBeforeTheMove();

        var notes = await SettleAsync(a);
        a.Write("docs (Case Conflict)/x.txt", "edited here after the rename");
        File.SetLastWriteTimeUtc(a.PathOf("docs (Case Conflict)/x.txt"), DateTime.UtcNow.AddMinutes(-5));
        notes.AddRange(await SettleAsync(a));

        var here = TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(File.ReadAllText).ToList();
        Assert.Contains("edited here after the rename", here);
        var onServer = (await _server.ListFilesAsync(new ListFilesRequest { Prefix = string.Empty }, CancellationToken.None)).Entries
            .Where(e => e.Kind == EntryKind.File && !e.Deleted).Select(e => e.Path).ToList();
        Assert.True(onServer.Exists(p => p.StartsWith("docs (Case Conflict)/x", StringComparison.Ordinal)),
            $"the edit is only here: server [{string.Join(", ", onServer)}]; notes: [{string.Join(" | ", notes)}]");
    }

    /// <summary>
    /// Another device replaces the folder 'docs' with a FILE 'docs' right before this client's move: both
    /// the file and the folder's content end on both sides.
    /// </summary>
    [Fact]
    public async Task A_folder_replaced_by_a_file_between_listing_and_move_converges()
    {
        using var a = await ClashAsync();
        _server.BeforeMoveFile = async request =>
        {
            _server.BeforeMoveFile = null;
            await _server.DeleteFileAsync(new DeleteFileRequest { Path = "docs", Device = "b" }, CancellationToken.None);
            await CommitStagedAsync("docs");
        };

        var notes = await SettleAsync(a);
        await AssertSameAsync(a, notes);
        Assert.Contains(TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories), f => File.ReadAllText(f) == "the other device's new file" && !f.EndsWith("stage/g.txt", StringComparison.Ordinal));
    }
}
