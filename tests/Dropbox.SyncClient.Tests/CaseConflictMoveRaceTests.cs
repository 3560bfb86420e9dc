using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

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

    /// <summary>
    /// 'Docs' synced, then 'docs' with x.txt (and <paramref name="folders"/> folders f0000... before it) made beside it from
    /// the web and synced here: the next pass renames 'docs'.
    /// </summary>
    private async Task<TestClient> ClashAsync(int folders = 0)
    {
        var a = new TestClient(_dir, "a", _server);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "Docs/y.txt", "older");
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "stage/g.txt", "the other device's new file", client: "web1");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        await _server.CreateFolderAsync(new CreateFolderRequest { Path = "docs", Device = "web" }, CancellationToken.None);
        for (var i = 0; i < folders; i++)
        {
            await _server.CreateFolderAsync(new CreateFolderRequest { Path = $"docs/f{i:D4}", Device = "web" }, CancellationToken.None);
        }

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

        var notes = await Convergence.SettleAsync(a);
        await Convergence.AssertSameAsync(_server, a, notes);
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

        var notes = await Convergence.SettleAsync(a);
        a.Write("docs (Case Conflict)/x.txt", "edited here after the rename");
        File.SetLastWriteTimeUtc(a.PathOf("docs (Case Conflict)/x.txt"), DateTime.UtcNow.AddMinutes(-5));
        notes.AddRange(await Convergence.SettleAsync(a));

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

        var notes = await Convergence.SettleAsync(a);
        await Convergence.AssertSameAsync(_server, a, notes);
        Assert.Contains(TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories), f => File.ReadAllText(f) == "the other device's new file" && !f.EndsWith("stage/g.txt", StringComparison.Ordinal));
    }

    /// <summary>Right before this client's next move, the other device deletes docs/x.txt (the folder keeps its version).</summary>
    private void DeleteTheFileBeforeTheMove() => _server.BeforeMoveFile = async request =>
    {
        _server.BeforeMoveFile = null;
        await _server.DeleteFileAsync(new DeleteFileRequest { Path = "docs/x.txt", Device = "b" }, CancellationToken.None);
    };

    /// <summary>
    /// Another device deletes docs/x.txt right before this client's move of 'docs' (the folder's version guards the folder,
    /// not its contents, so the move is made): the listing after the move lacks x.txt, so its moved row takes a remote delete
    /// into the next pass, which deletes the file here (to the trash) as any remote delete. Before, the delete in the feed
    /// was at the old path, which no row held any more: the file stayed here for good and the server never had it.
    /// </summary>
    [Fact]
    public async Task A_file_deleted_between_listing_and_move_is_deleted_here()
    {
        using var a = await ClashAsync();
        DeleteTheFileBeforeTheMove();

        var notes = await Convergence.SettleAsync(a);
        await Convergence.AssertSameAsync(_server, a, notes);
        Assert.False(File.Exists(a.PathOf("docs (Case Conflict)/x.txt")));
        Assert.Contains(Directory.GetFiles(Path.Combine(a.State.StateDirectory, "trash"), "x.txt", SearchOption.AllDirectories),
            f => File.ReadAllText(f) == "synced here, deleted by the other device");
    }

    /// <summary>
    /// As <see cref="A_file_deleted_between_listing_and_move_is_deleted_here"/>, with the file edited here after the
    /// rename, before the pass that takes the delete: an edit against a remote delete is kept and sent (as a new file),
    /// never dropped.
    /// </summary>
    [Fact]
    public async Task A_file_deleted_between_listing_and_move_and_edited_here_reaches_the_server()
    {
        using var a = await ClashAsync();
        DeleteTheFileBeforeTheMove();
        var renamed = await a.SyncAsync();
        Assert.Equal(0, renamed.Errors);
        Assert.True(File.Exists(a.PathOf("docs (Case Conflict)/x.txt")), "the rename pass made no rename: " + string.Join(" | ", renamed.Notes));

        a.Write("docs (Case Conflict)/x.txt", "edited here after the rename");
        File.SetLastWriteTimeUtc(a.PathOf("docs (Case Conflict)/x.txt"), DateTime.UtcNow.AddMinutes(-5));
        var notes = await Convergence.SettleAsync(a);

        await Convergence.AssertSameAsync(_server, a, notes);
        Assert.Equal("edited here after the rename", a.Read("docs (Case Conflict)/x.txt"));
        var onServer = _server.Current("docs (Case Conflict)/x.txt");
        Assert.True(onServer is not null, $"the edit is only here; notes: [{string.Join(" | ", notes)}]");
        Assert.Equal("edited here after the rename".Length, (long)onServer.Size);
    }

    /// <summary>
    /// The pass that moves the folder ends with an error elsewhere (a new file's upload fails), so it keeps its old cursor:
    /// the delete found after the move is remembered at once, with the row it is for, and the next pass still deletes the
    /// file here (kept only with the cursor, it was lost with the pass, and the file stayed here for good).
    /// </summary>
    [Fact]
    public async Task A_file_deleted_between_listing_and_move_is_deleted_here_after_a_pass_that_failed_elsewhere()
    {
        using var a = await ClashAsync();
        DeleteTheFileBeforeTheMove();
        a.Write("notes.txt", "sent once the server is back");
        File.SetLastWriteTimeUtc(a.PathOf("notes.txt"), DateTime.UtcNow.AddMinutes(-5));
        static Exception Refused() => new Dropbox.Shared.Errors.DropboxException(Dropbox.Shared.Errors.ErrorKind.InvalidArgument, "the fake server refuses this upload");
        _server.BeforePlanUploads = (_, _) => throw Refused();
        _server.BeforePlanUpload = _ => throw Refused();
        var renamed = await a.SyncAsync();
        (_server.BeforePlanUploads, _server.BeforePlanUpload) = (null, null);
        Assert.True(renamed.Errors > 0, "the upload did not fail: " + string.Join(" | ", renamed.Notes) + " server: " + _server.Current("notes.txt"));
        Assert.True(File.Exists(a.PathOf("docs (Case Conflict)/x.txt")), "the rename pass made no rename: " + string.Join(" | ", renamed.Notes));

        var notes = await Convergence.SettleAsync(a);

        await Convergence.AssertSameAsync(_server, a, notes);
        Assert.False(File.Exists(a.PathOf("docs (Case Conflict)/x.txt")));
        Assert.Equal("sent once the server is back", a.Read("notes.txt"));
    }

    /// <summary>As <see cref="ClashAsync"/>, with 'docs' holding more folders than one listing page (x.txt, after them, on the second).</summary>
    private Task<TestClient> ClashOverTwoPagesAsync() => ClashAsync(folders: RemoteChanges.PageSize + 10);

    /// <summary>The remote changes the pass remembered with its cursor for the next (<see cref="FollowedCaseMoves"/>), by path.</summary>
    private static List<string> Remembered(TestClient a) =>
        [.. FollowedCaseMoves.Load(a.State.GetSetting(StateKeys.CaseFollowedMoves)).Select(e => $"{e.Path}{(e.Deleted ? " deleted" : string.Empty)}")];

    /// <summary>
    /// The listing after the move takes two pages: x.txt, deleted before the move and absent from the whole listing, is
    /// the one delete remembered for the next pass (none for a row on either page), and is deleted here; the last folder
    /// stays on both sides.
    /// </summary>
    [Fact]
    public async Task A_file_deleted_before_the_move_of_a_folder_listed_over_two_pages_is_deleted_here_alone()
    {
        using var a = await ClashOverTwoPagesAsync();
        var last = $"docs (Case Conflict)/f{RemoteChanges.PageSize + 9:D4}";
        DeleteTheFileBeforeTheMove();
        var renamed = await a.SyncAsync();
        Assert.Equal(0, renamed.Errors);
        Assert.Equal(["docs (Case Conflict)/x.txt deleted"], Remembered(a));

        var notes = await Convergence.SettleAsync(a);

        await Convergence.AssertSameAsync(_server, a, notes);
        Assert.False(File.Exists(a.PathOf("docs (Case Conflict)/x.txt")));
        Assert.True(Directory.Exists(a.PathOf(last)), "a folder on the listing's second page was deleted here");
        Assert.NotNull(_server.Current(last));
    }

    /// <summary>
    /// The listing after the move fails at its second page: what its first page lacks is not taken as deleted (nothing of
    /// it is taken: no delete is remembered), so no folder of the second page is deleted here. The file deleted before the
    /// move is still deleted here: the next pass reads its delete from the feed, before this client's move of its folder,
    /// and takes it at the new name (<see cref="DeletesBeforeCaseMoves"/>). Before it, the file stayed here until a
    /// reconcile sent it back to the server, undoing the other device's delete (review ag51).
    /// </summary>
    [Fact]
    public async Task A_listing_that_fails_after_the_move_deletes_nothing_else_and_the_next_pass_takes_the_delete()
    {
        using var a = await ClashOverTwoPagesAsync();
        var last = $"docs (Case Conflict)/f{RemoteChanges.PageSize + 9:D4}";
        DeleteTheFileBeforeTheMove();
        var pages = 0;
        _server.BeforeListFiles = () =>
        {
            if (++pages == 2)
            {
                throw new Dropbox.Shared.Errors.DropboxException(Dropbox.Shared.Errors.ErrorKind.Unavailable, "the fake server is down for this page");
            }
        };
        var renamed = await a.SyncAsync();
        _server.BeforeListFiles = null;
        Assert.Equal(0, renamed.Errors);
        Assert.True(pages >= 2, $"the listing asked {pages} page(s)");
        Assert.Empty(Remembered(a));
        Assert.Contains(renamed.Notes, n => n.Contains("could not be read after its move", StringComparison.Ordinal)
            && n.Contains("is deleted here by the next pass that reads the change feed", StringComparison.Ordinal));

        var notes = await Convergence.SettleAsync(a);

        Assert.True(Directory.Exists(a.PathOf(last)), "a folder the failed listing did not reach was deleted here; notes: " + string.Join(" | ", notes));
        Assert.True(Directory.Exists(a.PathOf("docs (Case Conflict)/f0000")));
        Assert.False(File.Exists(a.PathOf("docs (Case Conflict)/x.txt")), "x.txt, deleted by the other device before the move, is still here; notes: " + string.Join(" | ", notes));
        Assert.Null(_server.Current("docs (Case Conflict)/x.txt"));

        var reconcile = await a.SyncAsync(new SyncOptions { Reconcile = true });
        Assert.Equal(0, reconcile.Errors);
        notes.AddRange(reconcile.Notes);
        Assert.Null(_server.Current("docs (Case Conflict)/x.txt"));
        Assert.Null(_server.Current("docs/x.txt"));
        await Convergence.AssertSameAsync(_server, a, notes);
    }
}
