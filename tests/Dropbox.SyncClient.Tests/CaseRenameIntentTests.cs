using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The write-ahead intent of a case-conflict rename (<see cref="CaseRenameIntent"/>): a crash after the rename here and
/// before the rows' one db write (review ag51's probes, crash cases 2 and 3) used to leave the rows at the old name and the
/// files at the new, and the next pass sent x.txt, deleted on the server by another device before the move, back to the
/// server. The real engine against the <see cref="FakeServer"/>, the crash injected at the db writer's steps. Same
/// set-up as <see cref="CaseMoveCrashDeleteTests"/> (<see cref="CaseClash"/>).
/// </summary>
public sealed class CaseRenameIntentTests : IDisposable
{
    private const string Moved = CaseClash.Moved;

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    private async Task<string> StateAsync(TestClient a)
    {
        var server = (await _server.ListFilesAsync(new ListFilesRequest { Prefix = string.Empty }, CancellationToken.None)).Entries
            .Where(e => e.Kind == EntryKind.File && !e.Deleted).Select(e => e.Path).Order(StringComparer.Ordinal).ToList();
        var local = TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(a.Folder, f).Replace('\\', '/')).Order(StringComparer.Ordinal).ToList();
        return $"server [{string.Join(", ", server)}], here [{string.Join(", ", local)}]";
    }

    /// <summary>x.txt (deleted by the other device before the move) must be neither here nor on the server, a.txt kept, both sides the same.</summary>
    private async Task AssertDeleteKeptAsync(TestClient a, List<string> notes)
    {
        var onServer = _server.Current($"{Moved}/x.txt") is not null || _server.Current("docs/x.txt") is not null;
        var here = File.Exists(a.PathOf($"{Moved}/x.txt")) || File.Exists(a.PathOf("docs/x.txt"));
        Assert.False(onServer || here,
            $"x.txt, deleted on the server by another device before the move, is {(onServer ? "on the server again" : "still here")}: {await StateAsync(a)}; notes: [{string.Join(" | ", notes)}]");
        Assert.Equal("a as synced", a.Read($"{Moved}/sub/a.txt"));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>The rename's pass, with docs/x.txt deleted by another device right before the server's move, stopped at the first step <paramref name="crashHere"/> takes.</summary>
    private async Task CrashAtAsync(TestClient a, Func<string, bool> crashHere, bool deleteBeforeTheMove = true)
    {
        if (deleteBeforeTheMove)
        {
            CaseClash.DeleteBeforeTheMove(_server, "docs/x.txt");
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

    /// <summary>Every row of the db, as "path@version".</summary>
    private static List<string> Rows(TestClient a) => [.. a.State.LoadFiles().Values.Select(r => $"{r.Path}@{r.Version}").Order(StringComparer.Ordinal)];

    /// <summary>
    /// Crash between the rename here and the rows' db write (ag51's probe): the intent is there, the next pass finishes
    /// the rows' moves with the remembered delete, and x.txt is deleted here rather than sent back.
    /// </summary>
    [Fact]
    public async Task A_crash_between_the_rename_here_and_the_db_write_keeps_the_other_devices_delete()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await CrashAtAsync(a, step => step.StartsWith("before db move", StringComparison.Ordinal));
        Assert.True(File.Exists(a.PathOf($"{Moved}/x.txt")), "the crash pass made no rename");

        var notes = await Convergence.SettleAsync(a);

        await AssertDeleteKeptAsync(a, notes);
        Assert.Null(a.State.GetSetting(StateKeys.CaseRenameIntent));
    }

    /// <summary>Crash right after the rename here (ag51's probe): the same state as above.</summary>
    [Fact]
    public async Task A_crash_right_after_the_rename_here_keeps_the_other_devices_delete()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await CrashAtAsync(a, step => step.StartsWith("after case-conflict rename", StringComparison.Ordinal));

        var notes = await Convergence.SettleAsync(a);

        await AssertDeleteKeptAsync(a, notes);
    }

    /// <summary>
    /// The next pass after such a crash, stopped right after it resolved the intent: the rows are at the new name, at the
    /// versions the crashed pass planned (a.txt's from the listing after the move: its echo is nothing to do), x.txt's
    /// delete remembered at the new name, the intent gone; nothing moved here.
    /// </summary>
    [Fact]
    public async Task The_next_pass_moves_the_rows_as_the_crashed_pass_planned_and_remembers_the_delete()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await CrashAtAsync(a, step => step.StartsWith("after case-conflict rename", StringComparison.Ordinal));
        Assert.NotNull(a.State.GetSetting(StateKeys.CaseRenameIntent));
        Assert.Contains(Rows(a), r => r.StartsWith("docs/sub/a.txt@", StringComparison.Ordinal));

        await CrashAtAsync(a, step => step.StartsWith("after db move", StringComparison.Ordinal), deleteBeforeTheMove: false);

        Assert.Null(a.State.GetSetting(StateKeys.CaseRenameIntent));
        Assert.DoesNotContain(Rows(a), r => r.StartsWith("docs/", StringComparison.Ordinal));
        Assert.Equal(_server.Current($"{Moved}/sub/a.txt")!.Version, a.State.GetFile($"{Moved}/sub/a.txt")?.Version);
        Assert.Contains(FollowedCaseMoves.Load(a.State.GetSetting(StateKeys.CaseFollowedMoves)), e => e.Path == $"{Moved}/x.txt" && e.Deleted);
        Assert.Equal("x as synced", a.Read($"{Moved}/x.txt"));
    }

    /// <summary>
    /// A second crash, in the next pass right before its db write of the rows' moves: the intent is still there, and the
    /// pass after finishes it (the same moves, once).
    /// </summary>
    [Fact]
    public async Task A_crash_while_the_next_pass_finishes_the_intent_leaves_it_to_the_pass_after()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await CrashAtAsync(a, step => step.StartsWith("before db move", StringComparison.Ordinal));
        await CrashAtAsync(a, step => step.StartsWith("before db move", StringComparison.Ordinal), deleteBeforeTheMove: false);
        Assert.NotNull(a.State.GetSetting(StateKeys.CaseRenameIntent));
        Assert.Contains(Rows(a), r => r.StartsWith("docs/sub/a.txt@", StringComparison.Ordinal));

        var notes = await Convergence.SettleAsync(a);

        await AssertDeleteKeptAsync(a, notes);
        Assert.Null(a.State.GetSetting(StateKeys.CaseRenameIntent));
    }

    /// <summary>
    /// A rename that follows another device's move of 'docs' to its case-conflict name (then x.txt deleted there by that
    /// device), crashed between the rename here and the rows' db write: the rows follow as planned, the delete is kept
    /// here, and nothing is sent twice.
    /// </summary>
    [Fact]
    public async Task A_crash_in_a_followed_rename_between_the_rename_here_and_the_db_write_keeps_the_other_devices_delete()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await _server.MoveFileAsync(new MoveFileRequest { FromPath = "docs", ToPath = Moved, Device = "b" }, CancellationToken.None);
        await _server.DeleteFileAsync(new DeleteFileRequest { Path = $"{Moved}/x.txt", Device = "b" }, CancellationToken.None);
        await CrashAtAsync(a, step => step.StartsWith("before db move", StringComparison.Ordinal), deleteBeforeTheMove: false);
        Assert.True(File.Exists(a.PathOf($"{Moved}/sub/a.txt")), "the crash pass made no rename");

        var notes = await Convergence.SettleAsync(a);

        await AssertDeleteKeptAsync(a, notes);
        Assert.Equal([$"{Moved}/sub/a.txt"], _server.LivePaths().Where(p => p.Contains("a.txt", StringComparison.Ordinal) || p.Contains("a (", StringComparison.Ordinal)).Select(p => p[..p.LastIndexOf('(')]));
    }

    /// <summary>
    /// Crash after the intent is written and before the rename here: the next pass finds the old name still holding the
    /// folder and drops the intent, changing no row and nothing here (stopped right after); it then goes on as after a
    /// crash between the server's move and the rename here (the move followed, the delete kept).
    /// </summary>
    [Fact]
    public async Task A_crash_after_the_intent_and_before_the_rename_here_drops_the_intent_and_changes_nothing()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await CrashAtAsync(a, step => step.StartsWith("after db case rename intent", StringComparison.Ordinal));
        Assert.NotNull(a.State.GetSetting(StateKeys.CaseRenameIntent));
        Assert.False(Directory.Exists(a.PathOf(Moved)), "the crash pass renamed here");
        var rowsBefore = Rows(a);
        var cursorBefore = a.State.GetSetting(StateKeys.Cursor);

        await CrashAtAsync(a, step => step.StartsWith("after db case rename intent cleared", StringComparison.Ordinal), deleteBeforeTheMove: false);

        Assert.Null(a.State.GetSetting(StateKeys.CaseRenameIntent));
        Assert.Equal(rowsBefore, Rows(a));
        Assert.Equal(cursorBefore, a.State.GetSetting(StateKeys.Cursor));
        Assert.Equal("x as synced", a.Read("docs/x.txt"));
        Assert.False(Directory.Exists(a.PathOf(Moved)));

        var notes = await Convergence.SettleAsync(a);

        await AssertDeleteKeptAsync(a, notes);
    }

    /// <summary>
    /// An edit made here after the crash (a.txt, under the new name): the rows follow as planned, so the edit is found
    /// against the synced state and sent as an edit, here and on the server; x.txt's delete is kept.
    /// </summary>
    [Fact]
    public async Task An_edit_made_here_after_the_crash_is_kept_and_sent()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await CrashAtAsync(a, step => step.StartsWith("before db move", StringComparison.Ordinal));
        File.WriteAllText(a.PathOf($"{Moved}/sub/a.txt"), "a edited here after the crash");

        var notes = await Convergence.SettleAsync(a);

        var edited = TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Where(f => File.ReadAllText(f) == "a edited here after the crash")
            .Select(f => Path.GetRelativePath(a.Folder, f)).ToList();
        Assert.True(edited.SequenceEqual([$"{Moved}/sub/a.txt"]), $"the edit here is at [{string.Join(", ", edited)}], not at its own path: {await StateAsync(a)}; notes: [{string.Join(" | ", notes)}]");
        Assert.Equal("a edited here after the crash".Length, (long?)_server.Current($"{Moved}/sub/a.txt")?.Size);
        Assert.False(File.Exists(a.PathOf($"{Moved}/x.txt")) || _server.Current($"{Moved}/x.txt") is not null, "x.txt's delete undone: " + await StateAsync(a));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// After the crash the user puts another folder at the new name (the renamed one removed; in the new one a copy of
    /// x.txt with its bytes and mtime, as <c>cp -a</c> or a restore makes it): it is not the folder renamed (another inode),
    /// so the rows stay at the old name and the copy is the user's own new file: kept here and sent, never deleted.
    /// </summary>
    [Fact]
    public async Task A_folder_put_at_the_new_name_after_the_crash_is_not_given_the_rows()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        await CrashAtAsync(a, step => step.StartsWith("before db move", StringComparison.Ordinal));
        var mtime = File.GetLastWriteTimeUtc(a.PathOf($"{Moved}/x.txt"));
        Directory.Delete(a.PathOf(Moved), recursive: true);
        a.Write($"{Moved}/x.txt", "x as synced");
        File.SetLastWriteTimeUtc(a.PathOf($"{Moved}/x.txt"), mtime);

        var notes = await Convergence.SettleAsync(a);

        Assert.True(File.Exists(a.PathOf($"{Moved}/x.txt")), "the user's own copy at the new name was deleted here: " + await StateAsync(a) + "; notes: " + string.Join(" | ", notes));
        Assert.Contains(notes, n => n.Contains("the new name holds something else", StringComparison.Ordinal));
        Assert.Equal("x as synced", a.Read($"{Moved}/x.txt"));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>The intent as stored reads back whole; a damaged one reads as none (then dropped).</summary>
    [Fact]
    public void The_intent_reads_back_as_written_and_a_damaged_one_as_none()
    {
        var gone = new RemoteEntry($"{Moved}/x.txt", FileKind.File, 7, Deleted: true, 11, [1, 2], 0);
        var intent = new CaseRenameIntent("docs", Moved, IsDirectory: true, new CaseRenameIntent.Thing(3, 99, 1_234_567_890_123), [new CaseRenameIntent.Row("docs/x.txt", $"{Moved}/x.txt", 7, 7), new("docs/sub", $"{Moved}/sub", 2, 12)], [gone]);

        var read = CaseRenameIntent.Load(intent.Save());

        Assert.NotNull(read);
        Assert.Equal((intent.Path, intent.Target, intent.IsDirectory, intent.Identity), (read.Path, read.Target, read.IsDirectory, read.Identity));
        Assert.Equal(intent.Rows, read.Rows);
        Assert.Equal([(gone.Path, gone.Version, true)], read.Gone.Select(e => (e.Path, e.Version, e.Deleted)));
        Assert.Null(CaseRenameIntent.Load(intent.Save().Replace("\"fromVersion\"", "\"from_version\"", StringComparison.Ordinal)));
        Assert.Null(CaseRenameIntent.Load(intent.Save().Replace("\"deleted\"", "\"removed\"", StringComparison.Ordinal)));
        Assert.Null(CaseRenameIntent.Load("{"));
    }

    /// <summary>The rule that tells a rename made from one not made, from what is at the two names.</summary>
    [Theory]
    [InlineData("ours", "nothing", true, true, "the new name holds what was renamed")]
    [InlineData("ours", "other", true, true, "the old name holds something made since")]
    [InlineData("nothing", "ours", true, false, "the old name still holds")]
    [InlineData("other", "nothing", true, false, "the new name holds something else")]
    [InlineData("other", "ours", true, false, "the old name still holds")]
    [InlineData("reused", "nothing", true, false, "the new name holds something else")]
    [InlineData("nothing", "nothing", true, true, "neither name holds anything")]
    [InlineData("nothing", "nothing", false, true, "neither name holds anything")]
    [InlineData("renumbered", "nothing", true, true, "the new name holds what was renamed")]
    [InlineData("unborn", "nothing", true, false, "cannot be told from one made there since")]
    [InlineData("file", "nothing", true, false, "the new name holds something else")]
    [InlineData("folder", "nothing", false, false, "cannot be told from one made there since")]
    [InlineData("folder", "folder", false, false, "which was renamed cannot be told")]
    [InlineData("file", "nothing", false, false, "something else")]
    [InlineData("nothing", "folder", false, false, "the new name holds nothing")]
    public void The_rule_finishes_the_rows_only_where_the_new_name_holds_what_was_renamed(string atTarget, string atPath, bool inodes, bool made, string why)
    {
        var intent = new CaseRenameIntent("docs", Moved, IsDirectory: true, inodes ? new CaseRenameIntent.Thing(3, 99, 5) : null, [], []);
        CaseRenameIntent.Seen Thing(string what) => what switch
        {
            "ours" => new(true, true, false, new CaseRenameIntent.Thing(3, 99, 5)),
            "other" => new(true, true, false, new CaseRenameIntent.Thing(3, 100, 5)),
            "reused" => new(true, true, false, new CaseRenameIntent.Thing(3, 99, 6)),
            "renumbered" => new(true, true, false, new CaseRenameIntent.Thing(4, 99, 5)),
            "unborn" => new(true, true, false, new CaseRenameIntent.Thing(3, 99, null)),
            "folder" => new(true, true, false, null),
            "file" => new(true, false, true, inodes ? new CaseRenameIntent.Thing(3, 101, 5) : null),
            _ => default,
        };

        var decided = CaseRenameIntent.Decide(intent, Thing(atPath), Thing(atTarget));

        Assert.Equal(made, decided.Made);
        Assert.Contains(why, decided.Why, StringComparison.Ordinal);
    }

    /// <summary>
    /// The rule for a FILE renamed: its one row also follows onto whatever file the new name holds while the old name
    /// holds nothing (an editor's save, a new inode: the next pass compares its content with the row's, so other content is
    /// an edit), never onto a folder, nor while the old name holds something it cannot be told from, nor without statx
    /// (no inodes here: "as synced" is then size and mtime alone, review in53b).
    /// </summary>
    [Theory]
    [InlineData("ours", "nothing", true, true, "the new name holds what was renamed")]
    [InlineData("saved", "nothing", true, true, "the new name holds a file and the old name nothing")]
    [InlineData("saved", "nothing", false, false, "no statx: size and mtime alone")]
    [InlineData("nothing", "nothing", true, true, "neither name holds anything")]
    [InlineData("nothing", "ours", true, false, "the old name still holds")]
    [InlineData("saved", "other", true, false, "the new name holds something else")]
    [InlineData("folder", "nothing", true, false, "the new name holds something else")]
    [InlineData("saved", "other", false, false, "which was renamed cannot be told")]
    public void The_rule_for_a_file_follows_it_onto_a_file_at_the_new_name_while_the_old_name_holds_nothing(string atTarget, string atPath, bool inodes, bool made, string why)
    {
        var intent = new CaseRenameIntent("notes.txt", "notes (Case Conflict).txt", IsDirectory: false, inodes ? new CaseRenameIntent.Thing(3, 99, 5) : null, [], []);
        CaseRenameIntent.Seen Thing(string what) => what switch
        {
            "ours" => new(true, false, true, new CaseRenameIntent.Thing(3, 99, 5)),
            "saved" => new(true, false, true, inodes ? new CaseRenameIntent.Thing(3, 120, 9) : null),
            "other" => new(true, false, true, inodes ? new CaseRenameIntent.Thing(3, 121, 9) : null),
            "folder" => new(true, true, false, inodes ? new CaseRenameIntent.Thing(3, 122, 9) : null),
            _ => default,
        };

        var decided = CaseRenameIntent.Decide(intent, Thing(atPath), Thing(atTarget));

        Assert.Equal(made, decided.Made);
        Assert.Contains(why, decided.Why, StringComparison.Ordinal);
    }

    /// <summary>
    /// Where the file system keeps no birth time (ext2/ext3, an ext4 made with 128-byte inodes as mke2fs does for small
    /// volumes, NFS) but frees and gives inode numbers again (a folder made again at a just-freed name gets the same
    /// number), a folder the user made at the new name after removing the renamed one cannot be told from it: it is not
    /// given the rows (review in53; end to end on such an ext4,
    /// <see cref="A_folder_put_at_the_new_name_after_the_crash_is_not_given_the_rows"/> had the user's copy deleted here).
    /// </summary>
    [Fact]
    public void Without_a_birth_time_a_reused_inode_at_the_new_name_is_not_taken_for_the_folder_renamed()
    {
        var intent = new CaseRenameIntent("docs", Moved, IsDirectory: true, new CaseRenameIntent.Thing(3, 99, null), [], []);
        var reused = new CaseRenameIntent.Seen(true, true, false, new CaseRenameIntent.Thing(3, 99, null));

        var decided = CaseRenameIntent.Decide(intent, default, reused);

        Assert.False(decided.Made, "a folder made again at the new name (inode number reused, no birth time) is taken for the one renamed: " + decided.Why);
    }

    /// <summary>
    /// The crash that matters most is a power loss: after the reboot the device number of the sync folder's file system
    /// may differ (an LVM/dm minor, a btrfs subvolume's or an overlay's anonymous device are numbered at mount), while
    /// inode and birth time are the file system's own: the folder is still taken for itself (dropped, the other device's
    /// delete was undone). Review in53.
    /// </summary>
    [Fact]
    public void The_same_folder_after_a_reboot_that_renumbered_the_device_is_taken_for_the_one_renamed()
    {
        var intent = new CaseRenameIntent("docs", Moved, IsDirectory: true, new CaseRenameIntent.Thing(0x1_0000_0003, 99, 5), [], []);
        var afterReboot = new CaseRenameIntent.Seen(true, true, false, new CaseRenameIntent.Thing(0x1_0000_0004, 99, 5));

        var decided = CaseRenameIntent.Decide(intent, default, afterReboot);

        Assert.True(decided.Made, "the folder renamed, seen after a reboot with another device number, is not taken for itself: " + decided.Why);
    }
}
