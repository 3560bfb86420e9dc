using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A file another device deletes between a pass's listing and this client's case-conflict move of its folder, and a crash
/// of that pass before the one db write that moves the rows and remembers the delete (between the server's move and the
/// rename here, right after the rename here, right before the db write): the next pass, its cursor older than both, reads
/// the delete before the move from the feed and takes it at the new name (<see cref="DeletesBeforeCaseMoves"/>) where the
/// rows are at the new name (a crash between the server's move and the rename here; a failed listing). Before, it sent the
/// file back to the server, undoing the other device's delete. A crash after the rename here is finished from the rename's
/// intent (<see cref="CaseRenameIntentTests"/>, where review ag51's probes of it are). From review ag51's probes; same
/// set-up as <see cref="GoneBeforeMoveCrashTests"/>.
/// </summary>
public sealed class CaseMoveCrashDeleteTests : IDisposable
{
    private const string Moved = CaseClash.Moved;

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    private Task<TestClient> ClashAsync() => CaseClash.SyncedAsync(_dir, _server);

    private void DeleteBeforeTheMove(string path) => CaseClash.DeleteBeforeTheMove(_server, path);

    private async Task<List<string>> SettleAsync(TestClient a, int passes = 5)
    {
        var notes = new List<string>();
        for (var i = 0; i < passes; i++)
        {
            var pass = await a.SyncAsync();
            notes.AddRange(pass.Notes);
            Assert.Equal(0, pass.Errors);
        }

        return notes;
    }

    private async Task<string> StateAsync(TestClient a)
    {
        var server = (await _server.ListFilesAsync(new ListFilesRequest { Prefix = string.Empty }, CancellationToken.None)).Entries
            .Where(e => e.Kind == EntryKind.File && !e.Deleted).Select(e => e.Path).Order(StringComparer.Ordinal).ToList();
        var local = TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(a.Folder, f).Replace('\\', '/')).Order(StringComparer.Ordinal).ToList();
        return $"server [{string.Join(", ", server)}], here [{string.Join(", ", local)}]";
    }

    /// <summary>x.txt (deleted by the other device before the move) must be neither here nor on the server, and the rest kept.</summary>
    private async Task AssertDeleteKeptAsync(TestClient a, List<string> notes)
    {
        var onServer = _server.Current($"{Moved}/x.txt") is not null || _server.Current("docs/x.txt") is not null;
        var here = File.Exists(a.PathOf($"{Moved}/x.txt")) || File.Exists(a.PathOf("docs/x.txt"));
        Assert.False(onServer || here,
            $"x.txt, deleted on the server by another device before the move, is {(onServer ? "on the server again" : "still here")}: {await StateAsync(a)}; notes: [{string.Join(" | ", notes)}]");
        var sub = File.Exists(a.PathOf($"{Moved}/sub/a.txt")) ? a.Read($"{Moved}/sub/a.txt") : File.Exists(a.PathOf("docs/sub/a.txt")) ? a.Read("docs/sub/a.txt") : null;
        Assert.Equal("a as synced", sub);
    }

    private async Task CrashAtAsync(TestClient a, Func<string, bool> crashHere)
    {
        DeleteBeforeTheMove("docs/x.txt");
        string? crashedAt = null;
        a.State.Writer.Step = step =>
        {
            if (crashedAt is null && crashHere(step))
            {
                crashedAt = step;
                throw new IOException("crash at " + step);
            }
        };
        await Assert.ThrowsAnyAsync<Exception>(() => a.SyncAsync());
        a.State.Writer.Step = null;
        Assert.NotNull(crashedAt);
    }

    /// <summary>
    /// A crash between the rename here and the rows' db write (its intent finished by the next pass:
    /// <see cref="CaseRenameIntentTests"/>), with x.txt edited here (at the new name) before the next pass: the edit is
    /// kept and sent, as any file edited here whose remote was deleted.
    /// </summary>
    [Fact]
    public async Task A_crash_before_the_db_write_keeps_an_edit_here_of_the_file_deleted_before_the_move()
    {
        using var a = await ClashAsync();
        await CrashAtAsync(a, step => step.StartsWith("before db move", StringComparison.Ordinal));
        File.WriteAllText(a.PathOf($"{Moved}/x.txt"), "edited here after the crash");

        var notes = await SettleAsync(a);

        Assert.Equal("edited here after the crash", a.Read($"{Moved}/x.txt"));
        Assert.Equal("edited here after the crash".Length, (long?)_server.Current($"{Moved}/x.txt")?.Size);
        Assert.Equal("a as synced", a.Read($"{Moved}/sub/a.txt"));
        Assert.Equal((await StateAsync(a)).Split(", here ")[0].Replace("server ", string.Empty), (await StateAsync(a)).Split(", here ")[1]);
        Assert.DoesNotContain(notes, n => n.Contains("error", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// Crash between the server's move and the rename here: the server moved, nothing here did. The next pass follows the
    /// move as another device's; x.txt's row follows it too (its delete before the move put at the new name), and its
    /// delete, withheld with both names that pass, is remembered with the rows' moves and taken by the pass after.
    /// </summary>
    [Fact]
    public async Task A_crash_between_the_server_move_and_the_rename_here_keeps_the_other_devices_delete()
    {
        using var a = await ClashAsync();
        await CrashAtAsync(a, step => step.StartsWith("before case-conflict rename", StringComparison.Ordinal));
        Assert.NotNull(_server.Current($"{Moved}/sub/a.txt"));
        Assert.False(Directory.Exists(a.PathOf(Moved)));

        var notes = await SettleAsync(a);

        await AssertDeleteKeptAsync(a, notes);
        Assert.Equal((await StateAsync(a)).Split(", here ")[0].Replace("server ", string.Empty), (await StateAsync(a)).Split(", here ")[1]);
    }

    /// <summary>
    /// As above, with x.txt edited here (still at the old name here) before the next pass: that pass follows the move and
    /// takes the delete before it at the new name as a remote delete of a file edited here: the edit is kept, here and on
    /// the server, under the new name.
    /// </summary>
    [Fact]
    public async Task A_crash_between_the_server_move_and_the_rename_here_keeps_an_edit_here_of_the_deleted_file()
    {
        using var a = await ClashAsync();
        await CrashAtAsync(a, step => step.StartsWith("before case-conflict rename", StringComparison.Ordinal));
        File.WriteAllText(a.PathOf("docs/x.txt"), "edited here after the crash");

        var notes = await SettleAsync(a);

        var contents = TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(File.ReadAllText).ToList();
        Assert.True(contents.Contains("edited here after the crash"), $"the edit here is lost: {await StateAsync(a)}; notes: [{string.Join(" | ", notes)}]");
        Assert.Equal("edited here after the crash", a.Read($"{Moved}/x.txt"));
        Assert.Equal("edited here after the crash".Length, (long?)_server.Current($"{Moved}/x.txt")?.Size);
        Assert.Equal("a as synced", a.Read($"{Moved}/sub/a.txt"));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// The pass that found the delete keeps its old cursor (an error elsewhere), and so does the next one: the delete, in
    /// the memory since the db write, must still be taken, once, and the memory forgotten after.
    /// </summary>
    [Fact]
    public async Task Passes_that_keep_their_cursor_still_take_the_remembered_delete_and_forget_it()
    {
        using var a = await ClashAsync();
        DeleteBeforeTheMove("docs/x.txt");
        // The rename's pass: crash at its cursor write (after the db write that moved the rows and remembered the delete).
        a.State.Writer.Step = step =>
        {
            if (step.StartsWith("before db cursor", StringComparison.Ordinal) || step.StartsWith("before db set cursor", StringComparison.Ordinal))
            {
                throw new IOException("crash at " + step);
            }
        };
        await Assert.ThrowsAnyAsync<Exception>(() => a.SyncAsync());
        a.State.Writer.Step = null;
        Assert.True(File.Exists(a.PathOf($"{Moved}/sub/a.txt")), "no rename");
        var remembered = FollowedCaseMoves.Load(a.State.GetSetting(StateKeys.CaseFollowedMoves));
        Assert.Contains(remembered, e => e.Path == $"{Moved}/x.txt" && e.Deleted);

        var notes = await SettleAsync(a);

        await AssertDeleteKeptAsync(a, notes);
        Assert.Null(a.State.GetSetting(StateKeys.CaseFollowedMoves));
        Assert.Equal((await StateAsync(a)).Split(", here ")[0].Replace("server ", string.Empty), (await StateAsync(a)).Split(", here ")[1]);
    }
}
