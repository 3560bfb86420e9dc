using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The remote deletes a case-conflict folder move finds (<see cref="Sync.LocalCaseRenames.GoneBeforeMove"/>) on the
/// FakeServer with a real folder: a folder deleted between a pass's listing and the move while a file new here or an edit
/// sits in it, and a crash around the db write that moves the rows and remembers the deletes (one transaction). From the
/// review dr50's probes.
/// </summary>
public sealed class GoneBeforeMoveCrashTests : IDisposable
{
    private const string Moved = CaseClash.Moved;

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    private Task<TestClient> ClashAsync() => CaseClash.SyncedAsync(_dir, _server);

    private void DeleteBeforeTheMove(string path) => CaseClash.DeleteBeforeTheMove(_server, path);

    private static Task<List<string>> SettleAsync(TestClient a) => Convergence.SettleAsync(a);

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
    /// Another device deletes the folder docs/sub (with a.txt) between the listing and the move, while a file new here
    /// (never sent) sits in it: the remembered delete of the folder must not take the new file; it is kept and sent.
    /// </summary>
    [Fact]
    public async Task A_folder_deleted_before_the_move_keeps_a_file_new_here_in_it()
    {
        using var a = await ClashAsync();
        a.Write("docs/sub/mine.txt", "new here, never sent");
        File.SetLastWriteTimeUtc(a.PathOf("docs/sub/mine.txt"), DateTime.UtcNow.AddMinutes(-5));
        DeleteBeforeTheMove("docs/sub");

        var notes = await SettleAsync(a);

        Assert.True(Directory.Exists(a.PathOf(Moved)), "no rename: " + string.Join(" | ", notes));
        Assert.Equal("new here, never sent", a.Read($"{Moved}/sub/mine.txt"));
        Assert.NotNull(_server.Current($"{Moved}/sub/mine.txt"));
        Assert.False(File.Exists(a.PathOf($"{Moved}/sub/a.txt")));
        await AssertSameAsync(a, notes);
    }

    /// <summary>As above, with a.txt edited here after the rename: the edit is kept and sent.</summary>
    [Fact]
    public async Task A_folder_deleted_before_the_move_keeps_an_edit_here_in_it()
    {
        using var a = await ClashAsync();
        DeleteBeforeTheMove("docs/sub");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.True(File.Exists(a.PathOf($"{Moved}/sub/a.txt")), "no rename");
        a.Write($"{Moved}/sub/a.txt", "edited here");
        File.SetLastWriteTimeUtc(a.PathOf($"{Moved}/sub/a.txt"), DateTime.UtcNow.AddMinutes(-5));

        var notes = await SettleAsync(a);

        Assert.Equal("edited here", a.Read($"{Moved}/sub/a.txt"));
        Assert.Equal("edited here".Length, (long)_server.Current($"{Moved}/sub/a.txt")!.Size);
        await AssertSameAsync(a, notes);
    }

    /// <summary>
    /// The process dies right after the rows moved in the db (x.txt's among them), at the next db write: the remembered
    /// delete of x.txt is in the same write as the rows, so the next passes learn x.txt was gone before the move (its
    /// delete in the feed is at the old path, which no row holds any more) and delete it here. Written one row at a time
    /// with the memory after, the crash left the rows moved and nothing remembered: the file stayed here for good, and the
    /// server never had it (review dr50's probe).
    /// </summary>
    [Fact]
    public async Task A_crash_right_after_the_rows_moved_in_the_db_still_deletes_here_the_file_gone_before_the_move()
    {
        using var a = await ClashAsync();
        var moved = false;
        var notes = await CrashThenSettleAsync(a, step =>
        {
            moved |= step.StartsWith("after db move", StringComparison.Ordinal);
            return moved && step.StartsWith("before db", StringComparison.Ordinal) && !step.StartsWith("before db move", StringComparison.Ordinal);
        });

        await AssertSameAsync(a, notes);
        await AssertGoneAsync(a);
    }

    /// <summary>
    /// The process dies right after the first db step that moves rows: one row at a time, the other rows stayed at the
    /// old name with nothing remembered, and the next pass matched the renamed files by content and sent x.txt again,
    /// undoing the other device's delete; in one write, every row moved and the delete is remembered.
    /// </summary>
    [Fact]
    public async Task A_crash_after_the_first_db_step_that_moves_rows_still_deletes_here_the_file_gone_before_the_move()
    {
        using var a = await ClashAsync();
        var notes = await CrashThenSettleAsync(a, step => step.StartsWith("after db move", StringComparison.Ordinal));

        await AssertSameAsync(a, notes);
        await AssertGoneAsync(a);
    }

    /// <summary>
    /// The process dies right before that write: no row moved, nothing remembered. The next pass finds the files at the
    /// new name with their rows at the old one (the folder renamed here and on the server): every byte the user had is
    /// kept and the two sides end the same (x.txt, deleted by the other device before the move, is sent back: not covered).
    /// </summary>
    [Fact]
    public async Task A_crash_right_before_the_rows_move_in_the_db_converges()
    {
        using var a = await ClashAsync();
        var notes = await CrashThenSettleAsync(a, step => step.StartsWith("before db move", StringComparison.Ordinal));

        await AssertSameAsync(a, notes);
        Assert.Equal("a as synced", a.Read($"{Moved}/sub/a.txt"));
    }

    /// <summary>
    /// x.txt is deleted on the server between the pass's listing and the move; the pass dies at the first db step
    /// <paramref name="crashHere"/> picks after the rename here, then five passes run.
    /// </summary>
    private async Task<List<string>> CrashThenSettleAsync(TestClient a, Func<string, bool> crashHere)
    {
        DeleteBeforeTheMove("docs/x.txt");
        var renamed = false;
        string? crashedAt = null;
        a.State.Writer.Step = step =>
        {
            renamed |= step.StartsWith("after case-conflict rename", StringComparison.Ordinal);
            if (renamed && crashedAt is null && crashHere(step))
            {
                crashedAt = step;
                throw new IOException("crash at " + step);
            }
        };
        await Assert.ThrowsAsync<IOException>(() => a.SyncAsync());
        a.State.Writer.Step = null;
        Assert.NotNull(crashedAt);
        Assert.True(File.Exists(a.PathOf($"{Moved}/x.txt")), "the crash pass made no rename");

        return await SettleAsync(a);
    }

    /// <summary>x.txt, deleted by the other device, is neither here nor on the server, and its bytes are in the trash.</summary>
    private async Task AssertGoneAsync(TestClient a)
    {
        var onServer = _server.Current($"{Moved}/x.txt") is not null || _server.Current("docs/x.txt") is not null;
        Assert.False(File.Exists(a.PathOf($"{Moved}/x.txt")) || onServer,
            $"x.txt, deleted on the server before the move, is {(onServer ? "on the server again" : "still here")}");
        Assert.Contains(Directory.GetFiles(Path.Combine(a.State.StateDirectory, "trash"), "x.txt", SearchOption.AllDirectories),
            f => File.ReadAllText(f) == "x as synced");
        Assert.Equal("a as synced", a.Read($"{Moved}/sub/a.txt"));
    }
}
