using Dropbox.Shared.Errors;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// More remembered withheld paths than one pass may look up (<see cref="WithheldPaths.MaxWithheldLookups"/>): their
/// changes are judged together, by one listing, so the mass-delete guard sees every remembered delete at once; and a
/// daemon whose many remembered paths stay skipped does not list on every pass. Real files, real db, real engine, a
/// <see cref="FakeServer"/> (which counts the listings).
/// </summary>
public sealed class WithheldManyTests : IDisposable
{
    private const int Files = 300;

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>
    /// 300 synced files under a folder this client cannot read, all deleted on the server meanwhile: once the folder can
    /// be read, no pass deletes any of them without confirmation (released 100 a pass, each pass's guard saw a third,
    /// then half: neither held), and with <c>--allow-mass-delete</c> they are all applied.
    /// </summary>
    [Theory]
    [InlineData(true)] // a real chmod 000 (root reads it anyway: the test then ends, as UnreadableFileTests' does)
    [InlineData(false)] // a symbolic link in the folder's place: withheld the same way, and as root too
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Remote_deletes_remembered_while_a_folder_was_withheld_are_held_together_by_the_mass_delete_guard(bool chmod)
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        for (var i = 0; i < Files; i++)
        {
            a.Write($"big/f{i:000}.txt", $"file {i}");
        }

        a.Write("other.txt", "stays");
        await a.SyncAsync();
        await b.SyncAsync();
        Assert.Equal(Files, Directory.GetFiles(b.PathOf("big")).Length);

        // B cannot read the folder; A deletes all of it on the server (confirmed there).
        var away = Path.Combine(_dir.CreateSub("away"), "big");
        if (chmod)
        {
            File.SetUnixFileMode(b.PathOf("big"), UnixFileMode.None);
            if (CanList(b.PathOf("big")))
            {
                File.SetUnixFileMode(b.PathOf("big"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                return; // root with CAP_DAC_OVERRIDE (CI) lists it anyway: the link case stands in for the kernel's refusal
            }
        }
        else
        {
            Directory.Move(b.PathOf("big"), away);
            Directory.CreateSymbolicLink(b.PathOf("big"), away);
        }

        Directory.Delete(a.PathOf("big"), recursive: true);
        Assert.Equal(Files, (await a.SyncAsync(new SyncOptions { AllowMassDelete = true })).FilesDeleted);
        var withheld = await b.SyncAsync(); // skipped: withheld; the cursor moves past the deletes, which are remembered
        Assert.Equal(0, withheld.Errors + withheld.FilesDeleted);
        var remembered = b.State.Withheld.Load();
        Assert.True(remembered.Count >= Files, $"{remembered.Count} paths remembered");

        // Readable again.
        if (chmod)
        {
            File.SetUnixFileMode(b.PathOf("big"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        else
        {
            Directory.Delete(b.PathOf("big"));
            Directory.Move(away, b.PathOf("big"));
        }

        // The first pass after stops: one listing answered every remembered path, and the guard saw all the deletes.
        var stop = await StoppedAsync(b.Engine);
        AssertNoneDeleted(b, "the first pass after the folder came back");
        Assert.NotNull(stop);
        Assert.Contains($"would delete {Files} of {Files + 1} synced files", stop.Message, StringComparison.Ordinal);

        // The same engine's next pass (a daemon's) lists again only after the interval: meanwhile they wait, withheld.
        var waiting = await b.SyncAsync();
        Assert.Equal(0, waiting.Errors + waiting.FilesDeleted);
        Assert.True(waiting.Pending >= 1);
        Assert.Contains(waiting.Notes, n => n.Contains("wait for one listing of them all", StringComparison.Ordinal));
        AssertNoneDeleted(b, "the daemon's second pass");

        // A new run (sync --once) lists, and stops again; nothing remembered is forgotten by the stops.
        var again = await StoppedAsync(b.EngineWith(new SyncOptions()));
        AssertNoneDeleted(b, "a new run");
        Assert.NotNull(again);
        Assert.Equal(remembered.Order(StringComparer.Ordinal), b.State.Withheld.Load().Order(StringComparer.Ordinal));

        var allowed = await b.SyncAsync(new SyncOptions { AllowMassDelete = true });
        Assert.Equal(0, allowed.Errors);
        Assert.Equal(Files, allowed.FilesDeleted);
        Assert.False(Directory.Exists(b.PathOf("big")));
        Assert.Equal("stays", b.Read("other.txt"));
        Assert.Empty(b.State.Withheld.Load());
    }

    /// <summary>
    /// 150 remote edits under a folder that is a file here (a kind clash B leaves as it is, its file written to on every
    /// pass, so nothing "here" stays as last looked up): one engine's passes (the daemon's) list for them once, not on
    /// every pass; in between they wait, withheld (nothing deleted, uploaded or looked up one by one); once the clash is
    /// gone and the interval past, one listing applies them all.
    /// </summary>
    [Fact]
    public async Task Many_remembered_paths_that_stay_skipped_are_listed_for_at_most_once_an_interval()
    {
        const int edits = 150;
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        Directory.CreateDirectory(a.PathOf("A"));
        await a.SyncAsync(); // the folder synced on its own: B's file in its place later is a clash, not a new file
        for (var i = 0; i < edits; i++)
        {
            a.Write($"A/f{i:000}.txt", $"version 1 of {i}");
        }

        await a.SyncAsync();
        await b.SyncAsync();
        for (var i = 0; i < edits; i++)
        {
            a.Write($"A/f{i:000}.txt", $"version 2 of {i}, edited on a");
        }

        await a.SyncAsync();
        Directory.Delete(b.PathOf("A"), recursive: true);
        b.Write("A", "b's file where the folder was");
        var clash = await b.SyncAsync(); // the edits come through the feed: skipped under the clash, remembered
        Assert.True(b.State.Withheld.Load().Count >= edits, $"{b.State.Withheld.Load().Count} remembered; {clash}; {string.Join(" | ", clash.Notes.Take(5))}");

        var listings = _server.ListFilesCalls;
        var lookups = 0;
        _server.TamperVersions = _ => Interlocked.Increment(ref lookups);
        const int passes = 12;
        for (var pass = 0; pass < passes; pass++)
        {
            File.AppendAllText(b.PathOf("A"), $" {pass}");
            var summary = await b.SyncAsync();
            Assert.Equal(0, summary.Errors + summary.FilesUploaded + summary.FilesDeleted + summary.FilesDownloaded + summary.Conflicts);
        }

        Assert.Equal(listings + 1, _server.ListFilesCalls); // one listing, not one a pass
        Assert.Equal(0, lookups); // and no slices of lookups instead
        Assert.True(b.State.Withheld.Load().Count >= edits);
        Assert.Equal(2, _server.History("A/f007.txt").Count);
        Assert.NotNull(_server.Current("A/f007.txt"));

        // The clash gone and the interval past: one listing, and every edit arrives.
        File.Move(b.PathOf("A"), b.PathOf("A-mine"));
        b.Engine.WithheldListingInterval = TimeSpan.Zero;
        await b.SyncAsync();
        await b.SyncAsync();

        Assert.Equal(listings + 2, _server.ListFilesCalls);
        Assert.Equal("version 2 of 7, edited on a", b.Read("A/f007.txt"));
        Assert.Equal(edits, Directory.GetFiles(b.PathOf("A")).Length);
        Assert.Empty(b.State.Withheld.Load());
    }

    /// <summary>
    /// A full listing (a reconcile, a pass after a sleep) holds a remembered path's newest state, so it looks nothing up:
    /// its change is decided as a looked-up one is, and stays remembered while it waits for a file still being written
    /// (such a pass keeps its old cursor, which is past the change: forgotten, it would be known nowhere).
    /// </summary>
    [Fact]
    public async Task A_full_listing_keeps_a_remembered_path_whose_change_waits_for_a_file_being_written()
    {
        var settling = new SyncOptions { StableAge = TimeSpan.FromHours(1) };
        using var a = new TestClient(_dir, "a", _server, settling);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("f.txt", "version 1");
        File.SetLastWriteTimeUtc(a.PathOf("f.txt"), DateTime.UtcNow.AddHours(-2));
        await a.SyncAsync();
        await b.SyncAsync();
        File.Delete(a.PathOf("f.txt"));
        File.CreateSymbolicLink(a.PathOf("f.txt"), a.PathOf("elsewhere.txt"));
        b.Write("f.txt", "version 2, edited on b");
        await b.SyncAsync();
        await a.SyncAsync();
        Assert.Contains("f.txt", a.State.Withheld.Load());

        File.Delete(a.PathOf("f.txt"));
        a.Write("f.txt", "a's own, being written");
        var listing = await a.SyncAsync(settling with { ListAll = true });

        Assert.Equal(0, listing.Errors);
        Assert.True(listing.Pending >= 1, "the file being written is not reported as pending");
        Assert.Contains("f.txt", a.State.Withheld.Load());

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

    [Theory]
    [InlineData("big|big/a|big/b/c", "big")]
    [InlineData("big/a|big/b", "big")]
    [InlineData("big/a|bigger/b", "")]
    [InlineData("x/y/z|x/y/w/v", "x/y")]
    [InlineData("a|b", "")]
    public void The_listing_for_many_remembered_paths_is_of_the_deepest_folder_holding_them_all(string paths, string folder)
    {
        Assert.Equal(folder, WithheldPaths.CommonFolder(paths.Split('|')));
    }

    /// <summary>Runs one pass; the guard's stop, or null when the pass ran (its summary without errors).</summary>
    private static async Task<DropboxException?> StoppedAsync(SyncEngine engine)
    {
        try
        {
            Assert.Equal(0, (await engine.RunPassAsync(CancellationToken.None)).Errors);
            return null;
        }
        catch (DropboxException stop) when (stop.Details.ContainsKey(MassDeleteGuard.DetailKey))
        {
            return stop;
        }
    }

    private static void AssertNoneDeleted(TestClient b, string when)
    {
        var left = Directory.GetFiles(b.PathOf("big")).Length;
        Assert.True(left == Files, $"{when} deleted {Files - left} of the {Files} files without confirmation");
    }

    private static bool CanList(string folder)
    {
        try
        {
            _ = Directory.GetFileSystemEntries(folder);
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}
