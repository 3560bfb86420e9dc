using Dropbox.Shared.Errors;
using Dropbox.SyncClient.Sync;
using Microsoft.Data.Sqlite;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The executable bit through the whole engine (real folders and dbs, the fake server), where a folder cannot hold it
/// (vfat, some mounts, Windows: the probe's answer is simulated, since vfat cannot be mounted here), for db rows from
/// before the bit was kept, and across moves and records of content that is the same on both sides.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ExecutableBitFolderTests : IDisposable
{
    private const UnixFileMode Plain = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode Script = Plain | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    private static Func<string, bool?> CannotHold => _ => false;

    [Fact]
    public async Task New_files_in_a_folder_that_cannot_hold_the_bit_are_committed_not_executable()
    {
        // vfat reads every file 0755.
        using var fat = new TestClient(_dir, "fat", _server, executableBitProbe: CannotHold);
        fat.Write("notes.txt", "plain text");
        File.SetUnixFileMode(fat.PathOf("notes.txt"), Script);

        var pass = await fat.SyncAsync();

        Assert.Equal(1, pass.FilesUploaded);
        Assert.False(_server.Current("notes.txt")!.Executable);
    }

    [Fact]
    public async Task A_content_edit_where_the_bit_cannot_be_held_keeps_the_previous_versions_bit()
    {
        using var linux = new TestClient(_dir, "linux", _server);
        using var windows = new TestClient(_dir, "windows", _server, executableBitProbe: CannotHold);
        linux.Write("run.sh", "#!/bin/sh\necho 1\n");
        File.SetUnixFileMode(linux.PathOf("run.sh"), Script);
        await linux.SyncAsync();
        await windows.SyncAsync();

        // The other device reads every file without the bit (as Windows does), and edits the content.
        windows.Write("run.sh", "#!/bin/sh\necho 2\n");
        File.SetUnixFileMode(windows.PathOf("run.sh"), Plain);
        var edit = await windows.SyncAsync();
        await linux.SyncAsync();

        Assert.Equal(1, edit.FilesUploaded);
        Assert.True(_server.Current("run.sh")!.Executable);
        Assert.Equal("#!/bin/sh\necho 2\n", linux.Read("run.sh"));
        Assert.True(IsExecutable(linux.PathOf("run.sh")));
    }

    [Fact]
    public async Task Where_the_bit_cannot_be_held_a_download_does_not_set_it_and_a_chmod_is_not_a_change()
    {
        using var linux = new TestClient(_dir, "linux", _server);
        using var fat = new TestClient(_dir, "fat", _server, executableBitProbe: CannotHold);
        linux.Write("run.sh", "#!/bin/sh\n");
        File.SetUnixFileMode(linux.PathOf("run.sh"), Script);
        linux.Write("notes.txt", "plain");
        File.SetUnixFileMode(linux.PathOf("notes.txt"), Plain);
        await linux.SyncAsync();

        var down = await fat.SyncAsync();
        Assert.Equal(2, down.FilesDownloaded);
        Assert.False(IsExecutable(fat.PathOf("run.sh"))); // as placed: no chmod tried

        // Whatever the bits read here, nothing is sent: neither a chmod-only version nor a cleared bit.
        File.SetUnixFileMode(fat.PathOf("notes.txt"), Script);
        var idle = await fat.SyncAsync();

        Assert.Equal(0, idle.FilesUploaded + idle.FilesDownloaded + idle.Errors);
        Assert.Single(_server.History("run.sh"));
        Assert.Single(_server.History("notes.txt"));
        Assert.True(_server.Current("run.sh")!.Executable);
        Assert.False(_server.Current("notes.txt")!.Executable);
    }

    [Fact]
    public async Task An_upgraded_device_whose_db_rows_predate_the_bit_sends_no_chmod_only_versions()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("tool.sh", "#!/bin/sh\n");
        File.SetUnixFileMode(a.PathOf("tool.sh"), Script);
        a.Write("notes.txt", "plain");
        File.SetUnixFileMode(a.PathOf("notes.txt"), Plain);
        await a.SyncAsync();
        var b = new TestClient(_dir, "b", _server);
        await b.SyncAsync();
        var stateDir = b.State.StateDirectory;
        b.Dispose();

        // B's db as a client from before the bit left it: no bit column at all (its folder has one file +x, one not).
        DropBitColumns(stateDir);
        using var upgraded = new TestClient(_dir, "b", _server);
        var pass = await upgraded.SyncAsync();

        Assert.Equal(0, pass.FilesUploaded + pass.FilesDownloaded + pass.Errors);
        Assert.Single(_server.History("tool.sh"));
        Assert.Single(_server.History("notes.txt"));
    }

    [Fact]
    public async Task A_chmod_made_with_a_move_reaches_the_server_and_the_other_device()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("tool.sh", "#!/bin/sh\necho tool\n");
        File.SetUnixFileMode(a.PathOf("tool.sh"), Plain);
        await a.SyncAsync();
        await b.SyncAsync();

        File.SetUnixFileMode(a.PathOf("tool.sh"), Script);
        File.Move(a.PathOf("tool.sh"), a.PathOf("tool2.sh"));
        var move = await a.SyncAsync();
        await a.SyncAsync();
        await b.SyncAsync();

        Assert.Equal(1, move.FilesMoved);
        Assert.True(_server.Current("tool2.sh")!.Executable);
        Assert.True(IsExecutable(b.PathOf("tool2.sh")));
        var idle = await a.SyncAsync();
        Assert.Equal(0, idle.FilesUploaded + idle.FilesDownloaded);
    }

    [Fact]
    public async Task A_remote_move_of_a_file_made_executable_remotely_applies_the_bit_here()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("tool.sh", "#!/bin/sh\necho tool\n");
        File.SetUnixFileMode(a.PathOf("tool.sh"), Plain);
        await a.SyncAsync();
        await b.SyncAsync();

        // A sends the chmod, then the move; B sees both in one pass, as a move of an entry with the new bit.
        File.SetUnixFileMode(a.PathOf("tool.sh"), Script);
        await a.SyncAsync();
        File.Move(a.PathOf("tool.sh"), a.PathOf("tool2.sh"));
        await a.SyncAsync();
        var moved = await b.SyncAsync();
        var idle = await b.SyncAsync();

        Assert.Equal(1, moved.FilesMoved);
        Assert.True(IsExecutable(b.PathOf("tool2.sh")));
        Assert.Equal(0, idle.FilesUploaded + idle.FilesDownloaded);
        Assert.True(_server.Current("tool2.sh")!.Executable);
    }

    [Fact]
    public async Task A_file_here_with_the_remote_content_but_another_bit_ends_with_one_bit_on_both_sides()
    {
        // B's folder was filled by a copy that dropped the mode (cp without -p): same bytes, no +x.
        using var a = new TestClient(_dir, "a", _server);
        a.Write("run.sh", "#!/bin/sh\n");
        File.SetUnixFileMode(a.PathOf("run.sh"), Script);
        await a.SyncAsync();
        using var b = new TestClient(_dir, "b", _server);
        b.Write("run.sh", "#!/bin/sh\n");
        File.SetUnixFileMode(b.PathOf("run.sh"), Plain);

        await b.SyncAsync();
        await b.SyncAsync();
        await a.SyncAsync();

        Assert.Equal(IsExecutable(b.PathOf("run.sh")), _server.Current("run.sh")!.Executable);
        Assert.Equal(IsExecutable(a.PathOf("run.sh")), _server.Current("run.sh")!.Executable);
    }

    [Fact]
    public async Task An_edit_to_a_damaged_file_with_an_unknown_bit_is_committed_and_keeps_the_servers_bit()
    {
        // The README's advice for a damaged file is to upload it again: where the folder cannot hold the bit and the
        // row predates it, the bit to carry is read from the history (the server refuses a damaged version's plan).
        var (_, stateDir) = await SyncedDownToFatAsync("run.sh", "#!/bin/sh\necho 1\n", Script);
        DropBitColumns(stateDir);
        _server.DamagedPaths.Add("run.sh");

        using var upgraded = new TestClient(_dir, "fat", _server, executableBitProbe: CannotHold);
        upgraded.Write("run.sh", "#!/bin/sh\necho 2\n");
        var edit = await upgraded.SyncAsync();

        Assert.Equal(0, edit.Errors);
        Assert.Equal(1, edit.FilesUploaded);
        Assert.Equal(2, _server.History("run.sh").Count);
        Assert.True(_server.Current("run.sh")!.Executable);
    }

    [Fact]
    public async Task A_folder_that_starts_holding_the_bit_adopts_the_servers_bits_instead_of_sending_them_as_chmods()
    {
        // The probe said "cannot hold" (a vfat copy of the folder, a mount that came up late): downloads recorded the
        // server's bit without setting it. Now it holds (the folder copied to ext4): 0644 here is not a chmod.
        var (fatPass, _) = await SyncedDownToFatAsync("run.sh", "#!/bin/sh\n", Script);
        Assert.Equal(1, fatPass.FilesDownloaded);
        Assert.False(IsExecutable(_dir.Sub("fat-folder/run.sh")));

        using var ext4 = new TestClient(_dir, "fat", _server);
        var pass = await ext4.SyncAsync();
        var idle = await ext4.SyncAsync();

        Assert.Equal(0, pass.FilesUploaded + idle.FilesUploaded + pass.Errors);
        Assert.Single(_server.History("run.sh"));
        Assert.True(_server.Current("run.sh")!.Executable);
        Assert.True(IsExecutable(ext4.PathOf("run.sh")));
    }

    [Fact]
    public async Task A_probe_that_could_not_tell_is_asked_again_at_the_next_pass_and_then_a_chmod_is_sent()
    {
        using var linux = new TestClient(_dir, "linux", _server);
        linux.Write("tool.sh", "#!/bin/sh\n");
        File.SetUnixFileMode(linux.PathOf("tool.sh"), Script);
        await linux.SyncAsync();
        var asked = 0;
        using var b = new TestClient(_dir, "b", _server, executableBitProbe: _ => ++asked == 1 ? null : true);

        var first = await b.SyncAsync(); // the probe could not tell (a full disk, say): the bit is unknown this pass
        await b.SyncAsync();
        Assert.True(IsExecutable(b.PathOf("tool.sh")));
        File.SetUnixFileMode(b.PathOf("tool.sh"), Plain);
        var chmod = await b.SyncAsync();
        await linux.SyncAsync();

        Assert.Equal(2, asked);
        Assert.Equal(1, first.FilesDownloaded);
        Assert.Equal(1, chmod.FilesUploaded);
        Assert.False(_server.Current("tool.sh")!.Executable);
        Assert.False(IsExecutable(linux.PathOf("tool.sh")));
    }

    [Fact]
    public async Task A_chmod_on_a_file_whose_row_predates_the_bit_is_sent_after_the_upgrade()
    {
        using var b = await UpgradedWithPlainCopyAsync(); // the upgrade pass gave tool.sh the server's +x
        Assert.True(IsExecutable(b.PathOf("tool.sh")));

        File.SetUnixFileMode(b.PathOf("tool.sh"), Plain);
        var chmod = await b.SyncAsync();
        using var a = new TestClient(_dir, "a", _server);
        await a.SyncAsync();

        Assert.Equal(1, chmod.FilesUploaded);
        Assert.False(_server.Current("tool.sh")!.Executable);
        Assert.False(IsExecutable(a.PathOf("tool.sh")));
    }

    [Fact]
    public async Task A_temporary_failure_to_read_the_base_bit_fails_the_upload_into_its_retry_instead_of_clearing_the_bit()
    {
        // The bit here is unknown and the row predates it: the base version's bit comes from the history. A server
        // that is briefly unavailable must not make the commit carry "not executable" to every device.
        var (_, stateDir) = await SyncedDownToFatAsync("run.sh", "#!/bin/sh\necho 1\n", Script);
        DropBitColumns(stateDir);
        var failures = 1;
        _server.TamperVersions = _ =>
        {
            if (failures-- > 0)
            {
                throw new DropboxException(ErrorKind.Unavailable, "the server is restarting");
            }
        };

        using var upgraded = new TestClient(_dir, "fat", _server, executableBitProbe: CannotHold);
        upgraded.Write("run.sh", "#!/bin/sh\necho 2\n");
        await upgraded.SyncAsync();
        Assert.True(_server.Current("run.sh")!.Executable);
        await upgraded.SyncAsync();

        Assert.Equal(2, _server.History("run.sh").Count);
        Assert.All(_server.History("run.sh"), v => Assert.True(v.Executable));
    }

    [Fact]
    public async Task A_download_in_a_pass_whose_probe_could_not_tell_applies_the_bit_so_the_next_pass_sends_no_chmod()
    {
        // The db already stores "holds"; after a restart the probe cannot tell (a full disk): the pass's download of a
        // +x file must not record +x over a 0644 file, which the next pass (probe: holds) would send as a chmod.
        using (var before = new TestClient(_dir, "b", _server))
        {
            await before.SyncAsync();
        }

        using var linux = new TestClient(_dir, "linux", _server);
        linux.Write("tool.sh", "#!/bin/sh\n");
        File.SetUnixFileMode(linux.PathOf("tool.sh"), Script);
        await linux.SyncAsync();
        var asked = 0;
        using var b = new TestClient(_dir, "b", _server, executableBitProbe: _ => ++asked == 1 ? null : true);

        var first = await b.SyncAsync();
        var next = await b.SyncAsync();

        Assert.Equal(1, first.FilesDownloaded);
        Assert.Equal(0, first.FilesUploaded + next.FilesUploaded);
        Assert.Single(_server.History("tool.sh"));
        Assert.True(_server.Current("tool.sh")!.Executable);
        Assert.True(IsExecutable(b.PathOf("tool.sh")));
    }

    [Fact]
    public async Task Upgrading_a_db_that_kept_bits_but_no_probe_answer_keeps_its_rows_and_sends_a_chmod_made_while_stopped()
    {
        // A db from the build that kept the bit but not the probe's answer: its bits are good. A chmod made while the
        // daemon was stopped (it does not change the mtime) is the user's and is sent, never reverted by an adopt.
        using var a = new TestClient(_dir, "a", _server);
        a.Write("run.sh", "#!/bin/sh\n");
        File.SetUnixFileMode(a.PathOf("run.sh"), Script);
        await a.SyncAsync();
        var b = new TestClient(_dir, "b", _server);
        await b.SyncAsync();
        var stateDir = b.State.StateDirectory;
        var run = b.PathOf("run.sh");
        b.Dispose();
        using (var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(stateDir, Dropbox.SyncClient.State.LocalState.DatabaseFileName), Pooling = false }.ToString()))
        {
            db.Open();
            using var drop = db.CreateCommand();
            drop.CommandText = "DELETE FROM settings WHERE key='exec_bit_held'";
            Assert.Equal(1, drop.ExecuteNonQuery());
        }

        File.SetUnixFileMode(run, Plain);
        using var upgraded = new TestClient(_dir, "b", _server);
        var pass = await upgraded.SyncAsync();
        await a.SyncAsync();

        Assert.Equal(1, pass.FilesUploaded);
        Assert.False(IsExecutable(upgraded.PathOf("run.sh")));
        Assert.False(_server.Current("run.sh")!.Executable);
        Assert.False(IsExecutable(a.PathOf("run.sh")));
    }

    [Fact]
    public async Task Upgrading_a_db_whose_migration_left_bits_unknown_and_stored_no_probe_answer_adopts_them_so_a_chmod_is_sent()
    {
        // A db from the build that added the bit column without storing the probe's answer: the rows its migration added
        // are NULL (unknown), and no later pass ever compared a bit for them. Read as "holds" (its rows taken as good),
        // they would stay unknown for good and a chmod of such a file would never leave this disk.
        using var a = new TestClient(_dir, "a", _server);
        a.Write("tool.sh", "#!/bin/sh\n");
        File.SetUnixFileMode(a.PathOf("tool.sh"), Plain);
        a.Write("run.sh", "#!/bin/sh\necho run\n");
        File.SetUnixFileMode(a.PathOf("run.sh"), Script);
        await a.SyncAsync();
        var b = new TestClient(_dir, "b", _server);
        await b.SyncAsync();
        var stateDir = b.State.StateDirectory;
        b.Dispose();
        using (var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(stateDir, Dropbox.SyncClient.State.LocalState.DatabaseFileName), Pooling = false }.ToString()))
        {
            db.Open();
            using var unknown = db.CreateCommand();
            unknown.CommandText = "UPDATE files SET exec_bit=NULL WHERE path='tool.sh'";
            Assert.Equal(1, unknown.ExecuteNonQuery());
            using var noAnswer = db.CreateCommand();
            noAnswer.CommandText = "DELETE FROM settings WHERE key='exec_bit_held'";
            Assert.Equal(1, noAnswer.ExecuteNonQuery());
        }

        using var upgraded = new TestClient(_dir, "b", _server);
        var upgrade = await upgraded.SyncAsync();
        File.SetUnixFileMode(upgraded.PathOf("tool.sh"), Script);
        File.SetUnixFileMode(upgraded.PathOf("run.sh"), Plain);
        var chmod = await upgraded.SyncAsync();
        await a.SyncAsync();

        Assert.Equal(0, upgrade.FilesUploaded + upgrade.FilesDownloaded + upgrade.Errors);
        Assert.Equal("1", upgraded.State.GetSetting("exec_bit_held"));
        Assert.Equal(2, chmod.FilesUploaded);
        Assert.True(_server.Current("tool.sh")!.Executable);
        Assert.False(_server.Current("run.sh")!.Executable);
        Assert.True(IsExecutable(a.PathOf("tool.sh")));
        Assert.False(IsExecutable(a.PathOf("run.sh")));
    }

    [Fact]
    public async Task Upgrading_a_db_whose_migration_left_bits_unknown_and_stored_no_probe_answer_never_clears_a_local_executable_bit()
    {
        // deploy.sh was uploaded -x by a build that did not send the bit; here the user made it +x, and this folder has
        // always held the bit (no "cannot hold" marker). The adopt of the rows left unknown must not take the +x away
        // (silently): it is kept and sent. The other way round (-x here, +x on the server) the file gets the server's +x.
        using var a = new TestClient(_dir, "a", _server);
        a.Write("deploy.sh", "#!/bin/sh\necho deploy\n");
        File.SetUnixFileMode(a.PathOf("deploy.sh"), Plain);
        a.Write("run.sh", "#!/bin/sh\necho run\n");
        File.SetUnixFileMode(a.PathOf("run.sh"), Script);
        await a.SyncAsync();
        var b = new TestClient(_dir, "b", _server);
        await b.SyncAsync();
        var stateDir = b.State.StateDirectory;
        var (deploy, run) = (b.PathOf("deploy.sh"), b.PathOf("run.sh"));
        b.Dispose();
        using (var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(stateDir, Dropbox.SyncClient.State.LocalState.DatabaseFileName), Pooling = false }.ToString()))
        {
            db.Open();
            using var unknown = db.CreateCommand();
            unknown.CommandText = "UPDATE files SET exec_bit=NULL WHERE path IN ('deploy.sh','run.sh')";
            Assert.Equal(2, unknown.ExecuteNonQuery());
            using var noAnswer = db.CreateCommand();
            noAnswer.CommandText = "DELETE FROM settings WHERE key='exec_bit_held'";
            Assert.Equal(1, noAnswer.ExecuteNonQuery());
        }

        File.SetUnixFileMode(deploy, Script); // before the upgrade: its ctime is older than the adopt's time
        File.SetUnixFileMode(run, Plain);
        using var upgraded = new TestClient(_dir, "b", _server);
        var upgrade = await upgraded.SyncAsync();
        var idle = await upgraded.SyncAsync();
        await a.SyncAsync();

        Assert.True(IsExecutable(upgraded.PathOf("deploy.sh")));
        Assert.True(_server.Current("deploy.sh")!.Executable);
        Assert.True(IsExecutable(a.PathOf("deploy.sh")));
        Assert.True(IsExecutable(upgraded.PathOf("run.sh")));
        Assert.True(_server.Current("run.sh")!.Executable);
        Assert.Single(_server.History("run.sh"));
        Assert.Equal(1, upgrade.FilesUploaded);
        Assert.Equal(0, upgrade.FilesDownloaded + upgrade.Errors + upgrade.Conflicts);
        Assert.Equal(0, idle.FilesUploaded + idle.FilesDownloaded + idle.Errors);
        Assert.Equal("1", upgraded.State.GetSetting("exec_bit_held"));
    }

    [Fact]
    public async Task A_pass_that_fails_after_the_bit_reset_leaves_the_adopt_pending_and_a_chmod_made_meanwhile_is_sent()
    {
        await SyncedDownToFatAsync("notes.txt", "plain\n", Plain);
        _server.FailFullListings = 1;

        using var ext4 = new TestClient(_dir, "fat", _server);
        await Assert.ThrowsAnyAsync<DropboxException>(() => ext4.SyncAsync()); // the rows were reset, the listing failed
        AfterFileClockPasses(ext4.State.GetSetting("exec_bit_held")!, _dir.Sub("tick"));
        File.SetUnixFileMode(ext4.PathOf("notes.txt"), Script); // the user's chmod before the adopt
        await ext4.SyncAsync();
        await ext4.SyncAsync();

        Assert.Equal(0, _server.FailFullListings);
        Assert.True(IsExecutable(ext4.PathOf("notes.txt")));
        Assert.True(_server.Current("notes.txt")!.Executable);
    }

    [Fact]
    public async Task A_remote_move_applied_in_a_pass_whose_probe_could_not_tell_gives_the_file_the_bit_so_no_chmod_is_sent()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("tool.sh", "#!/bin/sh\necho tool\n");
        File.SetUnixFileMode(a.PathOf("tool.sh"), Plain);
        await a.SyncAsync();
        using (var before = new TestClient(_dir, "b", _server))
        {
            await before.SyncAsync();
        }

        File.SetUnixFileMode(a.PathOf("tool.sh"), Script);
        await a.SyncAsync();
        File.Move(a.PathOf("tool.sh"), a.PathOf("tool2.sh"));
        await a.SyncAsync();
        var asked = 0;
        using var b = new TestClient(_dir, "b", _server, executableBitProbe: _ => ++asked == 1 ? null : true);
        var moved = await b.SyncAsync();
        var next = await b.SyncAsync();

        Assert.Equal(1, moved.FilesMoved);
        Assert.Equal(0, moved.FilesUploaded + next.FilesUploaded);
        Assert.True(_server.Current("tool2.sh")!.Executable);
        Assert.True(IsExecutable(b.PathOf("tool2.sh")));
    }

    /// <summary>
    /// Returns once a file written now gets a ctime after the reset time stored in <paramref name="adopting"/>: the
    /// kernel stamps ctimes from a coarse clock that may lag the wall clock by a tick (bounded: 2 s).
    /// </summary>
    private static void AfterFileClockPasses(string adopting, string probe)
    {
        Assert.StartsWith("adopting:", adopting, StringComparison.Ordinal);
        var resetNs = long.Parse(adopting["adopting:".Length..], System.Globalization.CultureInfo.InvariantCulture);
        var deadline = DateTime.UtcNow.AddSeconds(2);
        do
        {
            File.WriteAllText(probe, "tick");
        }
        while (Dropbox.SyncClient.Local.FileChangeTime.TryGet(probe) is { } ctime && ctime <= resetNs && DateTime.UtcNow < deadline);
    }

    /// <summary>
    /// A file of <paramref name="mode"/> synced up from a Linux device, then down by a device whose folder cannot hold
    /// the bit ("fat"), both closed after: the fat device's pass and its state folder.
    /// </summary>
    private async Task<(SyncSummary FatPass, string FatState)> SyncedDownToFatAsync(string path, string content, UnixFileMode mode)
    {
        using (var linux = new TestClient(_dir, "linux", _server))
        {
            linux.Write(path, content);
            File.SetUnixFileMode(linux.PathOf(path), mode);
            await linux.SyncAsync();
        }

        using var fat = new TestClient(_dir, "fat", _server, executableBitProbe: CannotHold);
        var pass = await fat.SyncAsync();
        return (pass, fat.State.StateDirectory);
    }

    private static bool IsExecutable(string path) => (File.GetUnixFileMode(path) & UnixFileMode.UserExecute) != 0;

    /// <summary>Removes every executable-bit column from the files table (a db as clients before the bit left it).</summary>
    private static void DropBitColumns(string stateDir)
    {
        using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(stateDir, Dropbox.SyncClient.State.LocalState.DatabaseFileName), Pooling = false }.ToString());
        db.Open();
        foreach (var column in new[] { "executable", "exec_bit" })
        {
            using var has = db.CreateCommand();
            has.CommandText = $"SELECT COUNT(*) FROM pragma_table_info('files') WHERE name='{column}'";
            if ((long)has.ExecuteScalar()! > 0)
            {
                using var drop = db.CreateCommand();
                drop.CommandText = $"ALTER TABLE files DROP COLUMN {column}";
                drop.ExecuteNonQuery();
            }
        }
    }

    [Fact]
    public async Task A_remote_move_of_a_file_with_an_unknown_synced_bit_keeps_the_server_bit_and_gives_it_to_the_file_here()
    {
        using var b = await UpgradedWithPlainCopyAsync();
        using var a = new TestClient(_dir, "a", _server);
        await a.SyncAsync();
        File.Move(a.PathOf("tool.sh"), a.PathOf("tool2.sh"));
        await a.SyncAsync();
        await b.SyncAsync();
        await b.SyncAsync();

        Assert.True(_server.Current("tool2.sh")!.Executable);
        Assert.NotEqual(0, (int)(File.GetUnixFileMode(b.PathOf("tool2.sh")) & UnixFileMode.UserExecute));
    }

    [Fact]
    public async Task A_local_move_of_a_file_with_an_unknown_synced_bit_keeps_the_server_bit_and_gives_it_to_the_file_here()
    {
        using var b = await UpgradedWithPlainCopyAsync();
        File.Move(b.PathOf("tool.sh"), b.PathOf("tool2.sh"));
        await b.SyncAsync();
        await b.SyncAsync();

        Assert.True(_server.Current("tool2.sh")!.Executable);
        Assert.NotEqual(0, (int)(File.GetUnixFileMode(b.PathOf("tool2.sh")) & UnixFileMode.UserExecute));
    }

    /// <summary>B synced tool.sh (+x on the server) with a db from before the bit, and its copy here is 0644 (a pre-bit client's download, cp without -p).</summary>
    private async Task<TestClient> UpgradedWithPlainCopyAsync()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("tool.sh", "#!/bin/sh\n");
        File.SetUnixFileMode(a.PathOf("tool.sh"), Script);
        await a.SyncAsync();
        var b = new TestClient(_dir, "b", _server);
        await b.SyncAsync();
        var stateDir = b.State.StateDirectory;
        var tool = b.PathOf("tool.sh");
        b.Dispose();
        DropBitColumns(stateDir);
        File.SetUnixFileMode(tool, Plain);
        var upgraded = new TestClient(_dir, "b", _server);
        Assert.Equal(0, (await upgraded.SyncAsync()).FilesUploaded);
        return upgraded;
    }
}
