using System.Security.Cryptography;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;
using Microsoft.Data.Sqlite;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A <c>.dropboxignore</c> that is there but cannot be read (not permitted, not a regular file, too large) has the rules
/// last read from it applied in its place (<see cref="IgnoreFileMemory"/>): what its rules kept off the server stays off,
/// and no pass lists everything for it while it stays so. Made unreadable in ways that hold when the tests run as root,
/// as they do here and in CI: a chmod 000 does not stop root's reads, and xunit 2 has no skip decided at run time, so
/// that case is not among them (it takes the same refusal path as these; the rules applied whole to the unchanged file it
/// leaves, by its stamp, is Remembered_rules_apply_whole_only_to_the_file_of_the_stamp_they_were_read_with).
/// </summary>
public sealed class UnreadableIgnoreFileTests : IDisposable
{
    private const string Rules = ".dropboxignore\n*.key\n";

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("too large")]
    [InlineData("fifo")]
    [InlineData("folder")]
    public async Task A_file_its_rules_kept_off_the_server_stays_off_while_it_cannot_be_read(string how)
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write(".dropboxignore", Rules);
        a.Write("secret.key", "kept here");
        a.Write("ok.txt", "fine");
        await a.SyncAsync();
        Assert.Null(_server.Current("secret.key"));
        if (!await MakeUnreadableAsync(a.PathOf(".dropboxignore"), how))
        {
            return; // not a way to make it unreadable here (a FIFO off Linux)
        }

        a.Write("secret.key", "a new secret");
        a.Write("other.key", "another");
        a.Write("ok.txt", "fine, edited");
        var listings = _server.ListFilesCalls;

        var first = await a.SyncAsync().WaitAsync(TimeSpan.FromSeconds(120));
        var second = await a.SyncAsync().WaitAsync(TimeSpan.FromSeconds(120));

        Assert.Equal(0, first.Errors + second.Errors);
        Assert.Null(_server.Current("secret.key"));
        Assert.Null(_server.Current("other.key"));
        Assert.NotNull(_server.Current("ok.txt"));
        Assert.Equal(1, first.FilesUploaded); // ok.txt
        Assert.Contains(first.Notes, n => n.Contains(".dropboxignore: not read", StringComparison.Ordinal) && n.Contains("the rules last read from it are applied", StringComparison.Ordinal));
        Assert.DoesNotContain(first.Notes.Concat(second.Notes), n => n.Contains("a .dropboxignore changed", StringComparison.Ordinal));
        Assert.Equal(listings, _server.ListFilesCalls); // no listing a pass while it stays unreadable

        Restore(a.PathOf(".dropboxignore"));
        a.Write(".dropboxignore", Rules + "*.log\n"); // readable again, with a rule changed

        var readable = await a.SyncAsync();
        var quiet = await a.SyncAsync();

        Assert.Equal(0, readable.Errors + quiet.Errors);
        Assert.Contains(readable.Notes, n => n.Contains("a .dropboxignore changed", StringComparison.Ordinal));
        Assert.Equal(listings + 1, _server.ListFilesCalls); // the usual listing, once
        Assert.Null(_server.Current("secret.key"));
    }

    [Fact]
    public async Task A_nested_files_remembered_rules_apply_below_its_folder_after_the_rules_above()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write(".dropboxignore", Rules); // *.key everywhere
        a.Write("sub/.dropboxignore", ".dropboxignore\n!public.key\n/local.txt\n"); // lets one back in; one anchored here
        a.Write("sub/public.key", "shared");
        a.Write("sub/secret.key", "kept here");
        a.Write("sub/local.txt", "kept here");
        await a.SyncAsync();
        await a.SyncAsync(); // the negation's listing: remembered as read since
        Assert.NotNull(_server.Current("sub/public.key"));
        Assert.Null(_server.Current("sub/secret.key"));
        Assert.Null(_server.Current("sub/local.txt"));
        var listings = _server.ListFilesCalls;
        var shared = _server.Current("sub/public.key")!.Version;
        await MakeUnreadableAsync(a.PathOf("sub/.dropboxignore"), "too large");
        a.Write("sub/public.key", "shared, edited");
        a.Write("sub/secret.key", "a new secret");
        a.Write("sub/local.txt", "kept here, edited");
        a.Write("local.txt", "not under the anchored rule");

        var pass = await a.SyncAsync();

        // Grown, it is not provably the file read: its ignoring lines apply (the anchored one below sub only), not its '!'
        // one, so the edit of the key it let in stays here until it can be read.
        Assert.Equal(0, pass.Errors);
        Assert.Equal(shared, _server.Current("sub/public.key")!.Version);
        Assert.Null(_server.Current("sub/secret.key"));
        Assert.Null(_server.Current("sub/local.txt"));
        Assert.NotNull(_server.Current("local.txt"));
        Assert.Contains(pass.Notes, n => n.Contains("sub/.dropboxignore: not read", StringComparison.Ordinal) && n.Contains("the rules last read from it are applied but for their '!' lines", StringComparison.Ordinal));
        Assert.Equal(listings, _server.ListFilesCalls);
    }

    [Fact]
    public async Task A_new_negation_due_a_listing_when_its_file_became_unreadable_is_listed_once_without_its_negation()
    {
        byte[] kept = TestClient.RandomBytes(20_000, 3);
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        b.Write(".dropboxignore", ".dropboxignore\n*.log\n");
        await b.SyncAsync();
        a.Write("sub/x.log", kept);
        await a.SyncAsync();
        await b.SyncAsync();
        await b.SyncAsync();
        b.Write("sub/.dropboxignore", ".dropboxignore\n!x.log\n");
        await b.SyncAsync(); // read it, did not list: remembered as due a listing, with its bytes
        var listings = _server.ListFilesCalls;
        await MakeUnreadableAsync(b.PathOf("sub/.dropboxignore"), "too large");

        var pass = await b.SyncAsync();
        var quiet = await b.SyncAsync();

        // Grown, it is not provably the file read: its '!' line is not applied, and x.log stays on the server only.
        Assert.Equal(0, pass.Errors + quiet.Errors);
        Assert.False(File.Exists(b.PathOf("sub/x.log")));
        Assert.NotNull(_server.Current("sub/x.log"));
        Assert.Equal(listings + 1, _server.ListFilesCalls); // the listing it was due, then none
    }

    [Fact]
    public async Task A_file_read_at_the_passs_start_and_unreadable_at_its_scan_has_the_rules_read_at_the_start_applied()
    {
        byte[] built = TestClient.RandomBytes(20_000, 5);
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        b.Write(".dropboxignore", ".dropboxignore\nbuild/\n");
        await b.SyncAsync();
        a.Write("build/out.bin", built);
        await a.SyncAsync();
        await b.SyncAsync();
        await b.SyncAsync();
        Assert.False(File.Exists(b.PathOf("build/out.bin")));
        b.Write(".dropboxignore", ".dropboxignore\n"); // the rule removed: the next pass's start reads it and lists
        var once = true;
        _server.BeforeListFiles = () =>
        {
            if (once)
            {
                once = false;
                MakeUnreadableAsync(b.PathOf(".dropboxignore"), "too large").GetAwaiter().GetResult(); // written to when the scan comes
            }
        };

        var pass = await b.SyncAsync();
        _server.BeforeListFiles = null;
        var next = await b.SyncAsync();

        Assert.Equal(0, pass.Errors + next.Errors);
        Assert.True(File.Exists(b.PathOf("build/out.bin")), "build/out.bin never downloaded; notes: " + string.Join(" | ", pass.Notes.Concat(next.Notes)));
        Assert.Equal(built, File.ReadAllBytes(b.PathOf("build/out.bin")));
    }

    [Fact]
    public async Task An_ignore_file_no_completed_pass_read_has_no_remembered_rules_and_says_so()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("secret.key", "kept here?");
        await MakeUnreadableAsync(a.PathOf(".dropboxignore"), "too large");

        var pass = await a.SyncAsync();

        Assert.Equal(0, pass.Errors);
        Assert.Contains(pass.Notes, n => n.Contains(".dropboxignore: not read, its rules are not applied", StringComparison.Ordinal) && n.Contains("none are remembered", StringComparison.Ordinal));
        Assert.NotNull(_server.Current("secret.key")); // as before: nothing to apply
    }

    [Fact]
    public async Task A_db_from_before_the_bytes_were_kept_remembers_them_at_its_next_pass()
    {
        string db;
        using (var before = new TestClient(_dir, "a", _server))
        {
            before.Write(".dropboxignore", Rules);
            before.Write("secret.key", "kept here");
            await before.SyncAsync();
            db = Path.Combine(before.State.StateDirectory, LocalState.DatabaseFileName);
        }

        using (var old = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = db, Pooling = false }.ToString()))
        {
            old.Open();
            LocalSchema.Exec(old, "DROP TABLE ignore_rules;"); // as a build from before the table left the db
        }

        using var a = new TestClient(_dir, "a", _server);
        var listings = _server.ListFilesCalls;
        var upgraded = await a.SyncAsync(); // nothing changed here: the memory's bytes are written all the same
        await MakeUnreadableAsync(a.PathOf(".dropboxignore"), "too large");
        a.Write("secret.key", "a new secret");

        var pass = await a.SyncAsync();

        Assert.Equal(0, upgraded.Errors + pass.Errors);
        Assert.Null(_server.Current("secret.key"));
        Assert.Contains(pass.Notes, n => n.Contains("the rules last read from it are applied", StringComparison.Ordinal));
        Assert.Equal(listings, _server.ListFilesCalls);
    }

    [Fact]
    public async Task Under_a_folder_renamed_an_unreadable_file_has_no_remembered_rules_and_says_so()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("proj/.dropboxignore", Rules);
        a.Write("proj/secret.key", "kept here");
        await a.SyncAsync();
        await MakeUnreadableAsync(a.PathOf("proj/.dropboxignore"), "too large"); // the same file (inode), grown
        await a.SyncAsync();
        Directory.Move(a.PathOf("proj"), a.PathOf("work"));

        var renamed = await a.SyncAsync();

        // By folder only, as before the memory: an inode number does not tell the same file (the next file made may get a
        // deleted one's), so the renamed folder's file has nothing remembered and its rules are not applied.
        Assert.Equal(0, renamed.Errors);
        Assert.Contains(renamed.Notes, n => n.Contains("work/.dropboxignore: not read, its rules are not applied", StringComparison.Ordinal) && n.Contains("none are remembered", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_reused_inode_does_not_carry_another_folders_negation_to_an_unreadable_file()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // statx inode numbers: the carry this guards against was Linux only
        }

        using var a = new TestClient(_dir, "a", _server);
        a.Write(".dropboxignore", ".dropboxignore\n*.key\n"); // keys stay here, everywhere
        a.Write("proj/.dropboxignore", "!*.key\n"); // except the test fixtures of proj
        a.Write("proj/fixture.key", "test fixture");
        await a.SyncAsync();
        await a.SyncAsync(); // the negation's listing
        Assert.NotNull(_server.Current("proj/fixture.key"));
        var oldInode = FileChangeTime.TryStat(a.PathOf("proj/.dropboxignore"))!.Value.Inode;

        // Before the next pass: proj's ignore file goes, a vault folder gets a generated (too large) ignore file with no
        // negation, given the freed inode number (ext4 hands it to the next file made).
        a.Write("vault/server.key", "PRIVATE KEY");
        File.Delete(a.PathOf("proj/.dropboxignore"));
        for (var i = 0; i < 20_000; i++)
        {
            var filler = a.PathOf($"vault/fill-{i}.tmp"); // *.tmp: never synced
            File.WriteAllBytes(filler, []);
            if (FileChangeTime.TryStat(filler)!.Value.Inode == oldInode)
            {
                File.Move(filler, a.PathOf("vault/.dropboxignore"));
                break;
            }
        }

        await MakeUnreadableAsync(a.PathOf("vault/.dropboxignore"), "too large");
        foreach (var filler in Directory.GetFiles(a.PathOf("vault"), "fill-*.tmp"))
        {
            File.Delete(filler);
        }

        var reused = FileChangeTime.TryStat(a.PathOf("vault/.dropboxignore"))!.Value.Inode == oldInode;

        var pass = await a.SyncAsync();

        Assert.Equal(0, pass.Errors);
        Assert.True(_server.Current("vault/server.key") is null, $"vault/server.key uploaded (inode reused: {reused}); notes: " + string.Join(" | ", pass.Notes));
    }

    [Fact]
    public async Task A_replaced_unreadable_file_does_not_get_the_old_files_negation()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write(".dropboxignore", ".dropboxignore\n*.key\n");
        a.Write("sub/.dropboxignore", "!*.key\n");
        a.Write("sub/fixture.key", "test fixture");
        await a.SyncAsync();
        await a.SyncAsync();
        Assert.NotNull(_server.Current("sub/fixture.key"));

        // The user replaces sub's rules (a new file, without the negation) by a generated one too large to read.
        File.Delete(a.PathOf("sub/.dropboxignore"));
        await File.WriteAllTextAsync(a.PathOf("sub/.dropboxignore"), "# no negation any more\n" + new string('#', IgnoreFileRead.MaxBytes));
        a.Write("sub/private.key", "PRIVATE KEY");

        var pass = await a.SyncAsync();

        Assert.Equal(0, pass.Errors);
        Assert.True(_server.Current("sub/private.key") is null, "sub/private.key uploaded; notes: " + string.Join(" | ", pass.Notes));
        Assert.Contains(pass.Notes, n => n.Contains("sub/.dropboxignore: not read", StringComparison.Ordinal) && n.Contains("but for their '!' lines", StringComparison.Ordinal));
    }

    [Fact]
    public void Remembered_rules_apply_whole_only_to_the_file_of_the_stamp_they_were_read_with()
    {
        var read = new IgnoreFileStamp(1, 7, 20, 1000);
        var kept = new RememberedRules("H", "*.key\n!public.key\n\\!literal\n/local.txt", read);

        Assert.Equal(kept.Rules, IgnoreFileMemory.Applicable(kept, read, out var same)); // not permitted: the same file, unchanged
        Assert.True(same);
        foreach (var other in new IgnoreFileStamp?[] { read with { Inode = 8 }, read with { Device = 2 }, read with { Size = 21 }, read with { MtimeTicks = 1001 }, null })
        {
            Assert.Equal("*.key\n\\!literal\n/local.txt", IgnoreFileMemory.Applicable(kept, other, out var whole));
            Assert.False(whole);
        }

        Assert.Equal("*.key\n\\!literal\n/local.txt", IgnoreFileMemory.Applicable(kept with { Stamp = null }, read, out _)); // read with no stamp: never whole
    }

    [Fact]
    public void The_store_keeps_each_folders_rules_and_stamp_and_drops_the_folders_no_longer_remembered()
    {
        using var dir = new TempFolder();
        using var state = LocalState.Open(dir.Path);
        var stamp = new IgnoreFileStamp(ulong.MaxValue, 8, 20, 1000);
        var sub = new RememberedRules("AB", "*.key", stamp);
        var empty = new RememberedRules("CD", string.Empty, null);

        state.Writer.SetIgnoreFiles("described", [("sub", sub with { Stamp = stamp with { Inode = 7 } }), ("", empty), ("old", sub)]);
        state.Writer.SetIgnoreFiles("described again", [("sub", sub), ("", empty)]);

        Assert.Equal("described again", state.GetSetting(StateKeys.IgnoreFiles));
        Assert.Equal(sub, state.IgnoreRules.Get("sub"));
        Assert.Equal(empty, state.IgnoreRules.Get(string.Empty)); // no rules (comments only, say): remembered as such
        Assert.Null(state.IgnoreRules.Get("old"));
    }

    [Fact]
    public void A_reset_of_the_sync_state_forgets_the_remembered_ignore_files_setting_and_rules()
    {
        using var dir = new TempFolder();
        using var state = LocalState.Open(dir.Path);
        state.Writer.SetIgnoreFiles("AB\tsub", [("sub", new RememberedRules("AB", "*.key", null))]);

        state.ResetSyncState();

        Assert.Null(state.IgnoreRules.Get("sub"));
        Assert.Null(state.GetSetting(StateKeys.IgnoreFiles));
    }

    [Fact]
    public void Remembered_rules_count_only_where_the_memory_names_their_hash()
    {
        var rows = new Dictionary<string, RememberedRules> { ["sub"] = new("AB", "*.key", null), ["gone"] = new("AB", "*.key", null) };
        Func<string, RememberedRules?> row = f => rows.TryGetValue(f, out var r) ? r : null;

        Assert.Equal(rows["sub"], IgnoreFileMemory.Remembered("AB\tsub", row)("sub"));
        Assert.Equal(rows["sub"], IgnoreFileMemory.Remembered(IgnoreFileMemory.ListingDue + "\tsub", row)("sub"));
        Assert.Null(IgnoreFileMemory.Remembered("AB\tsub", row)("renamed")); // by folder only
        Assert.Null(IgnoreFileMemory.Remembered("AB\tsub", row)("gone")); // a row the memory no longer names
        Assert.Null(IgnoreFileMemory.Remembered("EF\tsub", row)("sub")); // the memory names other bytes (rewritten by an older build)
    }

    [Fact]
    public void An_unreadable_file_with_remembered_rules_is_no_change_and_keeps_its_row()
    {
        byte[] bytes = "# a comment\n*.key\n\n"u8.ToArray();
        var hash = Convert.ToHexString(SHA256.HashData(bytes));
        var stored = hash + "\tsub";
        var row = new RememberedRules(hash, "*.key", new IgnoreFileStamp(1, 7, bytes.Length, 1000));
        Func<string, (byte[]?, string?, IgnoreFileStamp?)> refused = _ => (null, "unreadable: denied", new IgnoreFileStamp(1, 9, 5, 5));
        Func<string, (byte[]?, string?, IgnoreFileStamp?)> readable = _ => (bytes, null, row.Stamp);
        Func<string, (byte[]?, string?, IgnoreFileStamp?)> gone = _ => (null, null, null);
        Func<string, RememberedRules?> remembered = f => f == "sub" ? row : null;

        var (changed, atStart) = IgnoreFileMemory.Check(stored, refused, remembered);
        var withoutRules = IgnoreFileMemory.Check(stored, refused, _ => null);
        var removed = IgnoreFileMemory.Check(stored, gone, remembered);
        var due = IgnoreFileMemory.Check(IgnoreFileMemory.ListingDue + "\tsub", refused, remembered);
        var read = IgnoreFileMemory.Check(stored, readable);

        Assert.False(changed);
        Assert.Equal(row, atStart["sub"]); // the row as read then (its stamp), not the refused file's
        Assert.Equal(stored, IgnoreFileMemory.Describe([], atStart).Text);
        Assert.True(withoutRules.Changed);
        Assert.True(removed.Changed);
        Assert.True(due.Changed); // still due its listing
        Assert.False(read.Changed);
        Assert.Equal(row, read.AtStart["sub"]); // only the rule line held, not the comment or the blank
    }

    [Fact]
    public void Past_the_bound_the_rest_of_the_folders_have_no_rules_remembered()
    {
        var big = new string('x', (IgnoreFileMemory.MaxRememberedBytes / 2) - 10);
        var (text, kept, unkept) = IgnoreFileMemory.Describe([("a", "A", false, big, null, true), ("b", "B", false, big, null, true), ("c", "C", false, big, null, true), ("d", "D", false, "*.key", null, true)]);

        Assert.Equal(["a", "b", "d"], kept.Select(k => k.Folder));
        Assert.Equal(["c"], unkept);
        Assert.Contains("C\tc", text, StringComparison.Ordinal); // still named: a change to it still lists
    }

    /// <summary>Makes the ignore file at <paramref name="path"/> unreadable <paramref name="how"/>; false when that cannot be done here.</summary>
    private static async Task<bool> MakeUnreadableAsync(string path, string how)
    {
        switch (how)
        {
            case "too large":
                await File.WriteAllTextAsync(path, ".dropboxignore\n" + new string('#', IgnoreFileRead.MaxBytes)); // a comment beyond the bound
                return true;
            case "fifo":
                if (!OperatingSystem.IsLinux())
                {
                    return false;
                }

                File.Delete(path);
                await SpecialFileTests.MkFifoAsync(path);
                return true;
            case "folder":
                File.Delete(path);
                Directory.CreateDirectory(path);
                return true;
            default:
                throw new ArgumentException("not a way this test knows: " + how, nameof(how));
        }
    }

    /// <summary>Puts a regular, writable file back at <paramref name="path"/>'s place.</summary>
    private static void Restore(string path)
    {
        if (Directory.Exists(path))
        {
            Directory.Delete(path);
        }
        else if (File.Exists(path) || FileChangeTime.IsSpecial(path))
        {
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            File.Delete(path);
        }
    }
}
