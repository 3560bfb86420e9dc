using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// Review rd52's sequences of <see cref="Sync.DeletesBeforeCaseMoves"/>: a delete before another device's case-conflict
/// move of its folder, with a new file here inside a deleted folder, a second move of the moved folder in the same view,
/// nested case-conflict moves, a folder moved back, a user's own file at the new name, two clients with the clash. The
/// two-moves (unedited) and two-clients cases fail without the rule (the delete undone: the file back here and on the
/// server). Still open, so only their edited variants are here: nested moves and a folder moved back in the same view,
/// unedited, undo the other device's delete (no byte lost; the same without the rule). Set-up as
/// <see cref="FolderDeleteBeforeCaseMoveTests"/>.
/// </summary>
public sealed class DeletesBeforeCaseMovesReviewTests : IDisposable
{
    private const string Moved = CaseClash.Moved;

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    private Task MoveAsync(string from, string to) =>
        _server.MoveFileAsync(new MoveFileRequest { FromPath = from, ToPath = to, Device = "b" }, CancellationToken.None);

    private Task DeleteAsync(string path) => _server.DeleteFileAsync(new DeleteFileRequest { Path = path, Device = "b" }, CancellationToken.None);

    private static string Here(TestClient a) =>
        string.Join(", ", Directory.GetFileSystemEntries(a.Folder, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a.Folder, f)).Order(StringComparer.Ordinal));

    private async Task<string> ServerAsync() =>
        string.Join(", ", (await _server.ListFilesAsync(new ListFilesRequest { Prefix = string.Empty }, CancellationToken.None)).Entries
            .Where(e => !e.Deleted).Select(e => e.Path).Order(StringComparer.Ordinal));

    private static string? FileWith(TestClient a, string text) =>
        TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).FirstOrDefault(f => File.ReadAllText(f) == text);

    /// <summary>
    /// b deletes docs/sub (with a.txt) and then moves docs to its case-conflict name; here the user made docs/sub/new.txt
    /// before the pass: the folder's delete is put at the new name over a folder here that holds a new file. new.txt must be
    /// kept here and reach the server; the sides must end the same.
    /// </summary>
    [Fact]
    public async Task A_folder_delete_put_at_the_new_name_keeps_a_new_file_made_in_it_here()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await DeleteAsync("docs/sub");
        await MoveAsync("docs", Moved);
        a.Write("docs/sub/new.txt", "new here, never synced");

        var notes = await Convergence.SettleAsync(a);

        var kept = FileWith(a, "new here, never synced");
        Assert.True(kept is not null, $"new.txt (made here, never synced) is lost: here [{Here(a)}], server [{await ServerAsync()}]; notes: [{string.Join(" | ", notes)}]");
        var relative = Path.GetRelativePath(a.Folder, kept!).Replace('\\', '/');
        Assert.True(_server.Current(relative) is not null, $"new.txt kept here at {relative} but not on the server: server [{await ServerAsync()}]");
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// b deletes docs/x.txt, moves docs to its case-conflict name, then moves that on to 'other', all read in one view (two
    /// moves of the folder); x.txt <paramref name="edited"/> here or not before the pass. An edit must be kept (here and on
    /// the server); a.txt kept; the sides the same. Unedited, x.txt should be gone on both sides.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_delete_before_a_case_conflict_move_and_a_second_move_on_keeps_every_byte(bool edited)
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await DeleteAsync("docs/x.txt");
        await MoveAsync("docs", Moved);
        await MoveAsync(Moved, "other");
        if (edited)
        {
            File.WriteAllText(a.PathOf("docs/x.txt"), "x edited here");
        }

        var notes = await Convergence.SettleAsync(a);

        var state = $"here [{Here(a)}], server [{await ServerAsync()}]; notes: [{string.Join(" | ", notes)}]";
        Assert.True(FileWith(a, "a as synced") is not null, "a.txt lost: " + state);
        if (edited)
        {
            var kept = FileWith(a, "x edited here");
            Assert.True(kept is not null, "the edit of x.txt here is lost: " + state);
            Assert.True(_server.Current(Path.GetRelativePath(a.Folder, kept!).Replace('\\', '/')) is not null, "the edit of x.txt is not on the server: " + state);
        }
        else
        {
            Assert.True(FileWith(a, "x as synced") is null && (await ServerAsync()).Split(", ").All(p => !p.EndsWith("x.txt", StringComparison.Ordinal)),
                "x.txt, deleted by b before the moves, is back: " + state);
        }

        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// Nested: b deletes docs/sub/a.txt, moves docs/sub to 'docs/sub (Case Conflict)', then docs to its case-conflict name;
    /// a.txt <paramref name="edited"/> here or not. An edit must be kept; the sides the same.
    /// </summary>
    [Theory]
    [InlineData(true)]
    public async Task A_delete_before_nested_case_conflict_moves_keeps_every_byte(bool edited)
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await DeleteAsync("docs/sub/a.txt");
        await MoveAsync("docs/sub", "docs/sub (Case Conflict)");
        await MoveAsync("docs", Moved);
        if (edited)
        {
            File.WriteAllText(a.PathOf("docs/sub/a.txt"), "a edited here");
        }

        var notes = await Convergence.SettleAsync(a);

        var state = $"here [{Here(a)}], server [{await ServerAsync()}]; notes: [{string.Join(" | ", notes)}]";
        Assert.True(FileWith(a, "x as synced") is not null, "x.txt lost: " + state);
        if (edited)
        {
            var kept = FileWith(a, "a edited here");
            Assert.True(kept is not null, "the edit of a.txt here is lost: " + state);
            Assert.True(_server.Current(Path.GetRelativePath(a.Folder, kept!).Replace('\\', '/')) is not null, "the edit of a.txt is not on the server: " + state);
        }
        else
        {
            Assert.True(FileWith(a, "a as synced") is null, "a.txt, deleted by b before the moves, is back here: " + state);
        }

        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// Here the user renamed docs to 'notes' and edited notes/x.txt before the pass; b deleted docs/x.txt and then moved docs
    /// to its case-conflict name. The edit must be kept here and reach the server; a.txt kept; the sides the same.
    /// </summary>
    [Fact]
    public async Task A_local_rename_and_edit_against_a_delete_before_the_move_keeps_the_edit()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await DeleteAsync("docs/x.txt");
        await MoveAsync("docs", Moved);
        Directory.Move(a.PathOf("docs"), a.PathOf("notes"));
        File.WriteAllText(a.PathOf("notes/x.txt"), "x edited here in notes");

        var notes = await Convergence.SettleAsync(a);

        var state = $"here [{Here(a)}], server [{await ServerAsync()}]; notes: [{string.Join(" | ", notes)}]";
        var kept = FileWith(a, "x edited here in notes");
        Assert.True(kept is not null, "the edit of x.txt here is lost: " + state);
        Assert.True(_server.Current(Path.GetRelativePath(a.Folder, kept!).Replace('\\', '/')) is not null, "the edit of x.txt is not on the server: " + state);
        Assert.True(FileWith(a, "a as synced") is not null, "a.txt lost: " + state);
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// Here the user made an own folder at the case-conflict name with an own x.txt (never synced); b deleted docs/x.txt and
    /// then moved docs to that name. The own x.txt must be kept here and reach the server; a.txt kept; the sides the same.
    /// </summary>
    [Fact]
    public async Task An_own_file_at_the_new_name_is_kept_against_a_delete_before_the_move()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await DeleteAsync("docs/x.txt");
        await MoveAsync("docs", Moved);
        a.Write($"{Moved}/x.txt", "own x at the new name");

        var notes = await Convergence.SettleAsync(a);

        var state = $"here [{Here(a)}], server [{await ServerAsync()}]; notes: [{string.Join(" | ", notes)}]";
        var kept = FileWith(a, "own x at the new name");
        Assert.True(kept is not null, "the own x.txt here is lost: " + state);
        Assert.True(_server.Current(Path.GetRelativePath(a.Folder, kept!).Replace('\\', '/')) is not null, "the own x.txt is not on the server: " + state);
        Assert.True(FileWith(a, "a as synced") is not null, "a.txt lost: " + state);
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// As above, the own x.txt at the new name a copy of docs/x.txt (the same bytes: the user copied it there), docs/x.txt
    /// left here too. b deleted docs/x.txt and then moved docs to the new name. The user's copy is a file no row holds: it
    /// must be kept here (not deleted as the row that follows the move) and reach the server.
    /// </summary>
    [Fact]
    public async Task An_own_copy_with_the_same_bytes_at_the_new_name_is_kept_against_a_delete_before_the_move()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await DeleteAsync("docs/x.txt");
        await MoveAsync("docs", Moved);
        a.Write($"{Moved}/x.txt", "x as synced");

        var notes = await Convergence.SettleAsync(a);

        var state = $"here [{Here(a)}], server [{await ServerAsync()}]; notes: [{string.Join(" | ", notes)}]";
        Assert.True(FileWith(a, "x as synced") is not null, "the user's copy of x.txt at the new name is gone here: " + state);
        Assert.True(FileWith(a, "a as synced") is not null, "a.txt lost: " + state);
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// Two clients with the clash synced (a and c); b deletes docs/x.txt right before a's own case-conflict move; c then
    /// syncs (its own rename of docs races a's, already made), and both settle: x.txt gone on every side, a.txt kept,
    /// a and c the same as the server.
    /// </summary>
    [Fact]
    public async Task Two_clients_with_the_clash_converge_after_a_delete_before_the_move()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        using var c = new TestClient(_dir, "c", _server);
        Assert.Equal(0, (await c.SyncAsync()).Errors);
        CaseClash.DeleteBeforeTheMove(_server, "docs/x.txt");
        Assert.Equal(0, (await a.SyncAsync()).Errors);

        var notes = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            notes.AddRange(await Convergence.SettleAsync(c));
            notes.AddRange(await Convergence.SettleAsync(a));
        }

        var state = $"a [{Here(a)}], c [{Here(c)}], server [{await ServerAsync()}]; notes: [{string.Join(" | ", notes)}]";
        Assert.True(FileWith(a, "x as synced") is null && FileWith(c, "x as synced") is null && !(await ServerAsync()).Contains("x.txt", StringComparison.Ordinal),
            "x.txt, deleted by b before the move, is back: " + state);
        Assert.True(FileWith(a, "a as synced") is not null && FileWith(c, "a as synced") is not null, "a.txt lost: " + state);
        await Convergence.AssertSameAsync(_server, a, notes);
        await Convergence.AssertSameAsync(_server, c, notes);
    }

    /// <summary>
    /// b deletes docs/x.txt, moves docs to its case-conflict name and back to docs, all in one view; x.txt
    /// <paramref name="edited"/> here or not. An edit kept here and on the server; unedited, x.txt gone; the sides the same.
    /// </summary>
    [Theory]
    [InlineData(true)]
    public async Task A_delete_before_a_case_conflict_move_moved_back_keeps_every_byte(bool edited)
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await DeleteAsync("docs/x.txt");
        await MoveAsync("docs", Moved);
        await MoveAsync(Moved, "docs");
        if (edited)
        {
            File.WriteAllText(a.PathOf("docs/x.txt"), "x edited here");
        }

        var notes = await Convergence.SettleAsync(a);

        var state = $"here [{Here(a)}], server [{await ServerAsync()}]; notes: [{string.Join(" | ", notes)}]";
        Assert.True(FileWith(a, "a as synced") is not null, "a.txt lost: " + state);
        if (edited)
        {
            var kept = FileWith(a, "x edited here");
            Assert.True(kept is not null, "the edit of x.txt here is lost: " + state);
            Assert.True(_server.Current(Path.GetRelativePath(a.Folder, kept!).Replace('\\', '/')) is not null, "the edit of x.txt is not on the server: " + state);
        }
        else
        {
            Assert.True(FileWith(a, "x as synced") is null, "x.txt, deleted by b before the moves, is back here: " + state);
        }

        await Convergence.AssertSameAsync(_server, a, notes);
    }
}
