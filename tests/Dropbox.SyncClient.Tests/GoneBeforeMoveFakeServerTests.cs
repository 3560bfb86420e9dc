using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// From a review (dr50), on the FakeServer: a folder deleted between a pass's listing and its
/// case-conflict move while a file new here sits in it, an edit in such a folder, and a crash between the rows' move in the
/// db and the write of the remembered deletes.
/// </summary>
public sealed class GoneBeforeMoveFakeServerTests : IDisposable
{
    private const string Moved = CaseClash.Moved;

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    private Task<TestClient> ClashAsync() => CaseClash.SyncedAsync(_dir, _server);

    private void DeleteBeforeTheMove(string path) => CaseClash.DeleteBeforeTheMove(_server, path);

    /// <summary>
    /// Another device deletes the folder docs/sub (with a.txt) between the listing and the move, while a file new here
    /// (never sent) sits in it: the remembered delete of the folder must not take the new file; it is kept and sent.
    /// </summary>
    [Fact]
    public async Task a_folder_deleted_before_the_move_keeps_a_file_new_here_in_it()
    {
        using var a = await ClashAsync();
        a.Write("docs/sub/mine.txt", "new here, never sent");
        File.SetLastWriteTimeUtc(a.PathOf("docs/sub/mine.txt"), DateTime.UtcNow.AddMinutes(-5));
        DeleteBeforeTheMove("docs/sub");

        var notes = await Convergence.SettleAsync(a);

        Assert.True(Directory.Exists(a.PathOf(Moved)), "no rename: " + string.Join(" | ", notes));
        Assert.Equal("new here, never sent", a.Read($"{Moved}/sub/mine.txt"));
        Assert.NotNull(_server.Current($"{Moved}/sub/mine.txt"));
        Assert.False(File.Exists(a.PathOf($"{Moved}/sub/a.txt")));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>As above, with a.txt edited here after the rename: the edit is kept and sent.</summary>
    [Fact]
    public async Task a_folder_deleted_before_the_move_keeps_an_edit_here_in_it()
    {
        using var a = await ClashAsync();
        DeleteBeforeTheMove("docs/sub");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.True(File.Exists(a.PathOf($"{Moved}/sub/a.txt")), "no rename");
        a.Write($"{Moved}/sub/a.txt", "edited here");
        File.SetLastWriteTimeUtc(a.PathOf($"{Moved}/sub/a.txt"), DateTime.UtcNow.AddMinutes(-5));

        var notes = await Convergence.SettleAsync(a);

        Assert.Equal("edited here", a.Read($"{Moved}/sub/a.txt"));
        Assert.Equal("edited here".Length, (long)_server.Current($"{Moved}/sub/a.txt")!.Size);
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// The pass that applies the remembered delete (x.txt to the trash) ends with an error elsewhere, so it keeps its old
    /// cursor and the memory; the user then makes x.txt again here, a new file: the remembered delete, put back in the next
    /// pass's view, must not take the new file.
    /// </summary>
    [Fact]
    public async Task a_file_made_again_here_after_the_remembered_delete_was_applied_is_kept_and_sent()
    {
        using var a = await ClashAsync();
        DeleteBeforeTheMove("docs/x.txt");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.True(File.Exists(a.PathOf($"{Moved}/x.txt")), "no rename");

        a.Write("notes.txt", "sent once the server is back");
        File.SetLastWriteTimeUtc(a.PathOf("notes.txt"), DateTime.UtcNow.AddMinutes(-5));
        static Exception Refused() => new Dropbox.Shared.Errors.DropboxException(Dropbox.Shared.Errors.ErrorKind.InvalidArgument, "the fake server refuses this upload");
        _server.BeforePlanUploads = (_, _) => throw Refused();
        _server.BeforePlanUpload = _ => throw Refused();
        var failed = await a.SyncAsync();
        (_server.BeforePlanUploads, _server.BeforePlanUpload) = (null, null);
        Assert.True(failed.Errors > 0, "the upload did not fail");
        Assert.False(File.Exists(a.PathOf($"{Moved}/x.txt")), "the remembered delete was not applied in the failing pass");
        Assert.Contains(Dropbox.SyncClient.Sync.FollowedCaseMoves.Load(a.State.GetSetting(Dropbox.SyncClient.State.StateKeys.CaseFollowedMoves)),
            e => e.Path == $"{Moved}/x.txt" && e.Deleted);

        a.Write($"{Moved}/x.txt", "made again here, new");
        File.SetLastWriteTimeUtc(a.PathOf($"{Moved}/x.txt"), DateTime.UtcNow.AddMinutes(-5));
        var notes = await Convergence.SettleAsync(a);

        Assert.Equal("made again here, new", a.Read($"{Moved}/x.txt"));
        Assert.Equal("made again here, new".Length, (long)_server.Current($"{Moved}/x.txt")!.Size);
        await Convergence.AssertSameAsync(_server, a, notes);
    }
}
