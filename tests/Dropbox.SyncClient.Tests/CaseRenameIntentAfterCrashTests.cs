using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// What the user (or another device) does between a crash of a case-conflict rename (after the rename here, before the
/// rows' db write) and the next pass, which resolves the rename's intent (<see cref="CaseRenameIntent"/>): each must come
/// out as what it was (a delete a delete, a move a move, an edit an edit), no byte lost or twice. Review in53's probes.
/// Same set-up as <see cref="CaseRenameIntentTests"/> (<see cref="CaseClash"/>), the real engine against the
/// <see cref="FakeServer"/>, the crash injected at the db writer's steps.
/// </summary>
public sealed class CaseRenameIntentAfterCrashTests : IDisposable
{
    private const string Moved = CaseClash.Moved;

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    internal static async Task<string> StateAsync(FakeServer fake, TestClient a)
    {
        var server = (await fake.ListFilesAsync(new ListFilesRequest { Prefix = string.Empty }, CancellationToken.None)).Entries
            .Where(e => e.Kind == EntryKind.File && !e.Deleted).Select(e => e.Path).Order(StringComparer.Ordinal).ToList();
        var local = TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(a.Folder, f).Replace('\\', '/') + "=" + File.ReadAllText(f)).Order(StringComparer.Ordinal).ToList();
        return $"server [{string.Join(", ", server)}], here [{string.Join(", ", local)}]";
    }

    internal static async Task CrashAtAsync(FakeServer server, TestClient a, Func<string, bool> crashHere, bool deleteBeforeTheMove = true, Action? alsoBeforeTheMove = null)
    {
        if (deleteBeforeTheMove)
        {
            server.BeforeMoveFile = async request =>
            {
                server.BeforeMoveFile = null;
                await server.DeleteFileAsync(new DeleteFileRequest { Path = "docs/x.txt", Device = "b" }, CancellationToken.None);
                alsoBeforeTheMove?.Invoke();
            };
        }

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

    /// <summary>Another device's edit of <paramref name="path"/> on the server (over its current version).</summary>
    private async Task EditOnServerAsync(string path, string text)
    {
        using var web = new TestClient(_dir, "b2", _server);
        web.Write("staging/" + path, text);
        await web.SyncAsync();
        var staged = _server.Current("staging/" + path)!;
        var commit = new CommitFileRequest { Path = path, Size = staged.Size, MtimeUnixMs = staged.MtimeUnixMs, Device = "b", BaseVersion = _server.Current(path)!.Version };
        commit.Chunks.AddRange(staged.Chunks);
        await _server.CommitFileAsync(commit, CancellationToken.None);
        await _server.DeleteFileAsync(new DeleteFileRequest { Path = "staging/" + path, Device = "b" }, CancellationToken.None);
    }

    private static bool BeforeDbMove(string step) => step.StartsWith("before db move", StringComparison.Ordinal);

    private async Task AssertDeleteKeptAsync(TestClient a, List<string> notes)
    {
        var onServer = _server.Current($"{Moved}/x.txt") is not null || _server.Current("docs/x.txt") is not null;
        var here = File.Exists(a.PathOf($"{Moved}/x.txt")) || File.Exists(a.PathOf("docs/x.txt"));
        Assert.False(onServer || here,
            $"x.txt, deleted on the server by another device before the move, is {(onServer ? "on the server again" : "still here")}: {await StateAsync(_server, a)}; notes: [{string.Join(" | ", notes)}]");
        Assert.Equal("a as synced", a.Read($"{Moved}/sub/a.txt"));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// Crash between the rename here and the db write; the next pass is a reconcile (another engine on the same db, a full
    /// listing): the intent is resolved by it, and x.txt's delete (remembered with the rows) must still be kept.
    /// </summary>
    [Fact]
    public async Task A_reconcile_as_the_next_pass_after_the_crash_keeps_the_other_devices_delete()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await CrashAtAsync(_server, a, BeforeDbMove);
        Assert.NotNull(a.State.GetSetting(StateKeys.CaseRenameIntent));

        var notes = new List<string>((await a.EngineWith(a.Context.Options with { Reconcile = true }).RunPassAsync(CancellationToken.None)).Notes);
        notes.AddRange(await Convergence.SettleAsync(a));

        await AssertDeleteKeptAsync(a, notes);
    }

    /// <summary>
    /// The listing of the moved folder (now made BEFORE the rename here) fails, then the pass crashes between the rename here
    /// and the db write: the rows keep the moves' versions and no delete is remembered; the next pass must still take
    /// x.txt's delete (from the feed, DeletesBeforeCaseMoves), not send it back.
    /// </summary>
    [Fact]
    public async Task A_failed_listing_then_a_crash_before_the_db_write_keeps_the_other_devices_delete()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await CrashAtAsync(_server, a, BeforeDbMove, alsoBeforeTheMove: () => _server.FailFullListings = 1);
        Assert.NotNull(a.State.GetSetting(StateKeys.CaseRenameIntent));

        var notes = await Convergence.SettleAsync(a);

        await AssertDeleteKeptAsync(a, notes);
    }

    /// <summary>
    /// After the crash the user deletes a.txt and moves x2 ... : a.txt (under the renamed folder) deleted here before the
    /// next pass must be deleted on the server too (the rows follow, the delete is a delete), not fetched back.
    /// </summary>
    [Fact]
    public async Task A_delete_here_after_the_crash_is_sent_as_a_delete()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await CrashAtAsync(_server, a, BeforeDbMove);
        File.Delete(a.PathOf($"{Moved}/sub/a.txt"));

        var notes = await Convergence.SettleAsync(a);

        Assert.False(File.Exists(a.PathOf($"{Moved}/sub/a.txt")) || _server.Current($"{Moved}/sub/a.txt") is not null,
            "a.txt, deleted here after the crash, came back or stayed on the server: " + await StateAsync(_server, a) + "; notes: " + string.Join(" | ", notes));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// After the crash the user moves a.txt out of the renamed folder (to 'elsewhere/a.txt') and writes a new file of their
    /// own at its old place with other bytes: one a.txt with the synced bytes (at elsewhere), the user's new bytes at the
    /// old place, nothing twice, nothing lost.
    /// </summary>
    [Fact]
    public async Task A_file_moved_out_and_another_put_in_its_place_after_the_crash_are_both_kept_once()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await CrashAtAsync(_server, a, BeforeDbMove);
        Directory.CreateDirectory(a.PathOf("elsewhere"));
        File.Move(a.PathOf($"{Moved}/sub/a.txt"), a.PathOf("elsewhere/a.txt"));
        a.Write($"{Moved}/sub/a.txt", "the user's own new a");

        var notes = await Convergence.SettleAsync(a);

        var state = await StateAsync(_server, a) + "; notes: " + string.Join(" | ", notes);
        Assert.True("a as synced" == (File.Exists(a.PathOf("elsewhere/a.txt")) ? a.Read("elsewhere/a.txt") : null), "elsewhere/a.txt: " + state);
        Assert.True("the user's own new a" == (File.Exists(a.PathOf($"{Moved}/sub/a.txt")) ? a.Read($"{Moved}/sub/a.txt") : null), "new a.txt: " + state);
        Assert.Equal("the user's own new a".Length, (long?)_server.Current($"{Moved}/sub/a.txt")?.Size);
        Assert.Equal(2, TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Count(f => Path.GetFileName(f).StartsWith("a", StringComparison.Ordinal)));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// After the crash, another device edits a.txt at the new name on the server and the user edits it here: both edits
    /// kept (one as a conflicted copy), neither overwritten.
    /// </summary>
    [Fact]
    public async Task An_edit_here_and_one_on_the_server_after_the_crash_are_both_kept()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await CrashAtAsync(_server, a, BeforeDbMove);
        await EditOnServerAsync($"{Moved}/sub/a.txt", "a edited by b on the server");
        a.Write($"{Moved}/sub/a.txt", "a edited here after the crash");

        var notes = await Convergence.SettleAsync(a);

        var texts = TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(File.ReadAllText).ToList();
        var state = await StateAsync(_server, a) + "; notes: " + string.Join(" | ", notes);
        Assert.True(texts.Count(t => t == "a edited here after the crash") == 1, "the edit here: " + state);
        Assert.True(texts.Count(t => t == "a edited by b on the server") == 1, "the edit on the server: " + state);
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// A FILE case rename ('notes.txt' loses to 'Notes.txt'), crashed between the rename here and the db write, then the
    /// file saved by an editor as editors do (a temp file renamed over it: a new inode) before the next pass: the intent
    /// was dropped ("the new name holds something else", review in53) and the old bytes came back beside the edit; now
    /// the row follows onto the file, whose content is compared with it: the edit is sent once, as an edit of the renamed
    /// file, not kept beside the server's copy as a conflict (content twice) nor lost.
    /// </summary>
    [Fact]
    public async Task A_file_case_rename_crashed_then_saved_by_an_editor_is_sent_once_as_an_edit()
    {
        using var a = new TestClient(_dir, "a", _server);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "Notes.txt", "older");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "notes.txt", "notes as synced", client: "web2");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal("notes as synced", a.Read("notes.txt"));
        await CrashAtAsync(_server, a, BeforeDbMove, deleteBeforeTheMove: false);
        var renamed = TestClient.FilesIn(a.Folder).Select(Path.GetFileName).Single(n => n!.Contains("Case Conflict", StringComparison.Ordinal))!;
        Assert.NotNull(a.State.GetSetting(StateKeys.CaseRenameIntent));
        File.WriteAllText(a.PathOf("tmp-save"), "notes edited after the crash");
        File.Move(a.PathOf("tmp-save"), a.PathOf(renamed), overwrite: true);

        var notes = await Convergence.SettleAsync(a);

        var state = await StateAsync(_server, a) + "; notes: " + string.Join(" | ", notes);
        var texts = TestClient.FilesIn(a.Folder).Select(File.ReadAllText).ToList();
        Assert.True(texts.Count(t => t == "notes edited after the crash") == 1, "the edit: " + state);
        Assert.True(texts.Count(t => t == "notes as synced") == 0, "the renamed file's old bytes kept beside the edit (content twice): " + state);
        Assert.Equal("notes edited after the crash".Length, (long?)_server.Current(renamed)?.Size);
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// After the crash the user deletes the renamed folder (the new name): neither name holds anything, so the rows move
    /// as planned and the next pass sees them gone here (dropped instead, "the new name holds nothing", the rows stayed at
    /// the old name and the folder was fetched back: review in53). The user's delete is a delete: nothing of
    /// 'docs (Case Conflict)' fetched back, and the server's copy deleted.
    /// </summary>
    [Fact]
    public async Task The_renamed_folder_deleted_here_after_the_crash_is_deleted_on_the_server()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await CrashAtAsync(_server, a, BeforeDbMove);
        Directory.Delete(a.PathOf(Moved), recursive: true);

        var notes = await Convergence.SettleAsync(a);

        var state = await StateAsync(_server, a) + "; notes: " + string.Join(" | ", notes);
        Assert.False(Directory.Exists(a.PathOf(Moved)), "the folder deleted here came back: " + state);
        Assert.Null(_server.Current($"{Moved}/sub/a.txt"));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// After the crash the user moves the renamed folder to 'archive': nothing at either name, so the rows move as planned
    /// (dropped instead, a.txt was fetched back at the new name: content twice, review in53). The move is a move: a.txt
    /// once, at archive.
    /// </summary>
    [Fact]
    public async Task The_renamed_folder_moved_here_after_the_crash_is_not_fetched_back()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await CrashAtAsync(_server, a, BeforeDbMove);
        Directory.Move(a.PathOf(Moved), a.PathOf("archive"));

        var notes = await Convergence.SettleAsync(a);

        var state = await StateAsync(_server, a) + "; notes: " + string.Join(" | ", notes);
        var copies = TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Count(f => File.ReadAllText(f) == "a as synced");
        Assert.True(copies == 1, $"a.txt is here {copies} times: " + state);
        Assert.Equal("a as synced", a.Read("archive/sub/a.txt"));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// After the crash an app makes the old name again ('docs/new.txt', the loser's case) before the next pass: the intent
    /// is finished (the new name holds what was renamed), and new.txt is a new file at a name that clashes with 'Docs'
    /// again. Every byte kept, x.txt's delete kept, both sides the same.
    /// </summary>
    [Fact]
    public async Task The_old_name_made_again_after_the_crash_keeps_every_byte_and_converges()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await CrashAtAsync(_server, a, BeforeDbMove);
        a.Write("docs/new.txt", "new at the old name");

        var notes = await Convergence.SettleAsync(a);

        var state = await StateAsync(_server, a) + "; notes: " + string.Join(" | ", notes);
        var texts = TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(File.ReadAllText).ToList();
        Assert.True(texts.Count(t => t == "new at the old name") == 1, "new.txt: " + state);
        Assert.True(texts.Count(t => t == "a as synced") == 1, "a.txt: " + state);
        Assert.True(texts.Count(t => t == "x as synced") == 0, "x.txt's delete undone: " + state);
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// After the crash another device renames 'docs (Case Conflict)' on the server to 'renamed': the intent is finished
    /// here and the server's move followed: a.txt once, at 'renamed', x.txt's delete kept.
    /// </summary>
    [Fact]
    public async Task The_new_name_moved_on_the_server_after_the_crash_is_followed_once()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await CrashAtAsync(_server, a, BeforeDbMove);
        await _server.MoveFileAsync(new MoveFileRequest { FromPath = Moved, ToPath = "renamed", Device = "b" }, CancellationToken.None);

        var notes = await Convergence.SettleAsync(a);

        var state = await StateAsync(_server, a) + "; notes: " + string.Join(" | ", notes);
        var texts = TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(File.ReadAllText).ToList();
        Assert.True(texts.Count(t => t == "a as synced") == 1 && File.Exists(a.PathOf("renamed/sub/a.txt")), "a.txt: " + state);
        Assert.True(texts.Count(t => t == "x as synced") == 0, "x.txt's delete undone: " + state);
        await Convergence.AssertSameAsync(_server, a, notes);
    }
}
