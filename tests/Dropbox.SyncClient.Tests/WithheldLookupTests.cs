using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>The lookup of a remembered withheld path: an older server state (a restore) never replaces the newer file here; a skipped change backs off.</summary>
public sealed class WithheldLookupTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_remembered_path_whose_server_state_is_older_than_the_synced_one_is_left_as_it_is()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("f.txt", "version one");
        await a.SyncAsync();
        a.Write("f.txt", "version two, the newest");
        File.SetLastWriteTimeUtc(a.PathOf("f.txt"), DateTime.UtcNow.AddMinutes(-1));
        await a.SyncAsync();
        Assert.Equal(2, _server.History("f.txt").Count);

        // The path is remembered (a skip long ago), and the server now answers as if restored from an older backup:
        // its newest version is the first one.
        a.State.Withheld.Set(["f.txt"]);
        _server.TamperVersions = r =>
        {
            var older = r.Versions.Where(v => v.Version < r.Versions.Max(x => x.Version)).ToList();
            r.Versions.Clear();
            r.Versions.AddRange(older);
        };

        var pass = await a.SyncAsync();

        Assert.Equal(0, pass.Errors + pass.FilesDownloaded + pass.Conflicts);
        Assert.Equal("version two, the newest", a.Read("f.txt"));
        Assert.Empty(a.State.Withheld.Load());
    }

    [Fact]
    public async Task A_remembered_change_that_keeps_being_skipped_is_looked_up_less_and_less_often_and_applied_once_free()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        Directory.CreateDirectory(a.PathOf("A"));
        await a.SyncAsync();
        a.Write("A/x.txt", "version 1");
        await a.SyncAsync();
        await b.SyncAsync();
        a.Write("A/x.txt", "version 2, edited on a");
        await a.SyncAsync();

        // B replaces the folder with a file and leaves it so: the edit under it is skipped, pass after pass.
        Directory.Delete(b.PathOf("A"), recursive: true);
        b.Write("A", "b's file");
        await b.SyncAsync();
        Assert.Contains("A/x.txt", b.State.Withheld.Load());
        var lookups = 0;
        _server.TamperVersions = _ => Interlocked.Increment(ref lookups);
        const int passes = 12;
        for (var i = 0; i < passes; i++)
        {
            await b.SyncAsync();
        }

        // Once a pass, for good, is what it cost before; backing off (1, 2, 4, 8 passes apart) it is 4 or fewer.
        Assert.True(lookups <= 4, $"{lookups} lookups in {passes} passes");
        Assert.Contains("A/x.txt", b.State.Withheld.Load());

        // The obstacle gone, the change applies at once, however long the lookup was backed off.
        File.Move(b.PathOf("A"), b.PathOf("A-mine"));
        await b.SyncAsync();
        await b.SyncAsync();

        Assert.Equal("version 2, edited on a", b.Read("A/x.txt"));
        Assert.Empty(b.State.Withheld.Load());
    }

    [Fact]
    public async Task A_backed_off_pass_still_hands_a_remembered_paths_last_answer_to_the_planner_so_a_remote_edit_under_a_kind_clash_is_never_deleted()
    {
        // A syncs a folder P and P/x.txt to B; B makes P a file (a kind clash by its own synced tree: the folder's row
        // says folder) while A edits P/x.txt. B (one engine for every pass, as the daemon) skips P/x.txt under the clash
        // and remembers it; without its remembered answer a pass would take P/x.txt for deleted here and delete A's edit.
        // (A file never synced where the server has a folder is no clash any more: it is kept as a conflicted copy.)
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        Directory.CreateDirectory(a.PathOf("P"));
        await a.SyncAsync();
        a.Write("P/x.txt", "a's file under the folder");
        await a.SyncAsync();
        await b.SyncAsync();
        Directory.Delete(b.PathOf("P"), recursive: true);
        b.Write("P", "b's file where the folder was");
        File.SetLastWriteTimeUtc(b.PathOf("P"), DateTime.UtcNow.AddMinutes(-5));
        a.Write("P/x.txt", "a's edit under the folder");
        await a.SyncAsync();

        // Passes 1, 2 look up and skip; later ones are backed off (no lookup) and must decide the same.
        var errors = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            var pass = await b.SyncAsync();
            errors.AddRange(pass.ErrorMessages);
            Assert.Equal(0, pass.Conflicts + pass.FilesUploaded + pass.FilesDeleted);
        }

        Assert.Empty(errors);
        Assert.Equal("b's file where the folder was", b.Read("P"));
        Assert.Equal(2, _server.History("P/x.txt").Count);
        Assert.NotNull(_server.Current("P/x.txt"));

        // The file renamed away, the folder's edited file arrives (the back-off is reset).
        File.Move(b.PathOf("P"), b.PathOf("P-mine"));
        await b.SyncAsync();
        await b.SyncAsync();
        Assert.Equal("a's edit under the folder", b.Read("P/x.txt"));
        Assert.Equal("b's file where the folder was", b.Read("P-mine"));
    }

    [Fact]
    public async Task A_remembered_path_whose_looked_up_change_waits_for_a_file_being_written_stays_remembered_until_decided()
    {
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) });
        using var b = new TestClient(_dir, "b", _server);
        a.Write("f.txt", "version 1");
        File.SetLastWriteTimeUtc(a.PathOf("f.txt"), DateTime.UtcNow.AddHours(-2));
        await a.SyncAsync();
        await b.SyncAsync();

        // A's f.txt is a symbolic link (withheld) while B's edit goes by in the feed: skipped, remembered, and the
        // cursor moves past it.
        File.Delete(a.PathOf("f.txt"));
        File.CreateSymbolicLink(a.PathOf("f.txt"), a.PathOf("elsewhere.txt"));
        b.Write("f.txt", "version 2, edited on b");
        await b.SyncAsync();
        await a.SyncAsync();
        Assert.Contains("f.txt", a.State.Withheld.Load());

        // A file again, and still being written: the looked-up edit waits for it. Forgotten now, the edit would be
        // known to this client nowhere (the feed is past it).
        File.Delete(a.PathOf("f.txt"));
        a.Write("f.txt", "a's own, being written");
        var writing = await a.SyncAsync();

        Assert.Equal(0, writing.Errors);
        Assert.True(writing.Pending >= 1, "the file being written is not reported as pending");
        Assert.Contains("f.txt", a.State.Withheld.Load());
        Assert.Equal("a's own, being written", a.Read("f.txt"));

        File.SetLastWriteTimeUtc(a.PathOf("f.txt"), DateTime.UtcNow.AddHours(-2));
        for (var round = 0; round < 2; round++)
        {
            Assert.Equal(0, (await a.SyncAsync()).Errors);
        }

        var contents = TestClient.FilesIn(a.Folder).Where(f => Path.GetFileName(f).StartsWith("f", StringComparison.Ordinal)).Select(File.ReadAllText).ToList();
        Assert.Contains("a's own, being written", contents);
        Assert.Contains("version 2, edited on b", contents);
        Assert.Empty(a.State.Withheld.Load());
    }
}
