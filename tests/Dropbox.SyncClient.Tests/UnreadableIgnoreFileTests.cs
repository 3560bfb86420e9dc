using System.Security.Cryptography;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;
using Microsoft.Data.Sqlite;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A <c>.dropboxignore</c> that is there but cannot be read (not permitted, not a regular file, too large) has the rules
/// last read from it applied in its place (<see cref="IgnoreFileMemory"/>): what its rules kept off the server stays off,
/// and no pass lists everything for it while it stays so. Made unreadable in ways that hold when the tests run as root
/// (a chmod 000 does not stop root's reads: that case runs only where it does).
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
    [InlineData("not permitted")]
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
            return; // not a way to make it unreadable here (a FIFO off Linux, a chmod 000 as root)
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

        Assert.Equal(0, pass.Errors);
        Assert.True(_server.Current("sub/public.key")!.Version > shared, "the edit of sub/public.key, let back in below, was not sent");
        Assert.Null(_server.Current("sub/secret.key"));
        Assert.Null(_server.Current("sub/local.txt"));
        Assert.NotNull(_server.Current("local.txt"));
        Assert.Contains(pass.Notes, n => n.Contains("sub/.dropboxignore: not read", StringComparison.Ordinal) && n.Contains("the rules last read from it are applied", StringComparison.Ordinal));
        Assert.Equal(listings, _server.ListFilesCalls);
    }

    [Fact]
    public async Task A_new_negation_due_a_listing_when_its_file_became_unreadable_is_listed_once_with_the_remembered_rules()
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

        Assert.Equal(0, pass.Errors + quiet.Errors);
        Assert.Equal(kept, File.ReadAllBytes(b.PathOf("sub/x.log")));
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
    public void The_store_keeps_each_folders_bytes_and_inode_and_drops_the_folders_no_longer_remembered()
    {
        using var dir = new TempFolder();
        using var state = LocalState.Open(dir.Path);
        byte[] rules = "*.key\n"u8.ToArray();
        var hash = Convert.ToHexString(SHA256.HashData(rules));
        var empty = Convert.ToHexString(SHA256.HashData([]));

        state.Writer.SetIgnoreFiles("described", [("sub", hash, rules, 7), ("", empty, [], null), ("old", hash, rules, 9)]);
        state.Writer.SetIgnoreFiles("described again", [("sub", hash, rules, 8), ("", empty, [], null)]);

        Assert.Equal("described again", state.GetSetting(StateKeys.IgnoreFiles));
        Assert.Equal(rules, state.IgnoreRules.Get("sub")!.Value.Content);
        Assert.Empty(state.IgnoreRules.Get(string.Empty)!.Value.Content); // an empty file: no rules, remembered as such
        Assert.Null(state.IgnoreRules.Get("old"));
    }

    [Fact]
    public void Remembered_bytes_count_only_where_the_memory_names_their_hash()
    {
        byte[] rules = "*.key\n"u8.ToArray();
        var hash = Convert.ToHexString(SHA256.HashData(rules));
        var rows = new Dictionary<string, (string, byte[])> { ["sub"] = (hash, rules), ["gone"] = (hash, rules) };
        Func<string, (string, byte[])?> row = f => rows.TryGetValue(f, out var r) ? r : null;

        Assert.Equal(rules, IgnoreFileMemory.Remembered(hash + "\tsub", row)("sub"));
        Assert.Equal(rules, IgnoreFileMemory.Remembered(IgnoreFileMemory.ListingDue + "\tsub", row)("sub"));
        Assert.Null(IgnoreFileMemory.Remembered(hash + "\tsub", row)("renamed")); // by folder only
        Assert.Null(IgnoreFileMemory.Remembered(hash + "\tsub", row)("gone")); // a row the memory no longer names
        Assert.Null(IgnoreFileMemory.Remembered(new string('0', 64) + "\tsub", row)("sub")); // the memory names other bytes (rewritten by an older build)
        rows["sub"] = (hash, "*.txt\n"u8.ToArray());
        Assert.Null(IgnoreFileMemory.Remembered(hash + "\tsub", row)("sub")); // bytes that do not hash to their row's hash
    }

    [Fact]
    public void An_unreadable_file_with_remembered_bytes_is_no_change_and_keeps_its_hash_and_bytes()
    {
        byte[] rules = "*.key\n"u8.ToArray();
        var hash = Convert.ToHexString(SHA256.HashData(rules));
        var stored = hash + "\tsub";
        Func<string, (byte[]?, string?, ulong?)> refused = _ => (null, "unreadable: denied", 7);
        Func<string, (byte[]?, string?, ulong?)> gone = _ => (null, null, null);
        Func<string, byte[]?> remembered = f => f == "sub" ? rules : null;

        var (changed, atStart) = IgnoreFileMemory.Check(stored, refused, remembered);
        var withoutBytes = IgnoreFileMemory.Check(stored, refused, _ => null);
        var removed = IgnoreFileMemory.Check(stored, gone, remembered);
        var due = IgnoreFileMemory.Check(IgnoreFileMemory.ListingDue + "\tsub", refused, remembered);

        Assert.False(changed);
        Assert.Equal((hash, rules, (ulong?)7), atStart["sub"]);
        Assert.Equal(stored, IgnoreFileMemory.Describe([], atStart).Text);
        Assert.True(withoutBytes.Changed);
        Assert.True(removed.Changed);
        Assert.True(due.Changed); // still due its listing
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
                if (OperatingSystem.IsWindows())
                {
                    return false;
                }

                File.SetUnixFileMode(path, UnixFileMode.None);
                try
                {
                    File.ReadAllBytes(path).AsSpan().Clear();
                    File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                    return false; // read anyway (root)
                }
                catch (UnauthorizedAccessException)
                {
                    return true;
                }
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
