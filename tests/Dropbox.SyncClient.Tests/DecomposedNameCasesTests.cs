using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>Decomposed (NFD) names beside synced composed ones, renames and remote changes (cases from the fresh review of the NFD change; none may lose or hide bytes).</summary>
public sealed class DecomposedNameCasesTests : IDisposable
{
    private const string C = "caf\u00e9.txt";
    private const string D = "cafe\u0301.txt";
    private const string CF = "R\u00e9sum\u00e9s";
    private const string DF = "Re\u0301sume\u0301s";
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    private static string Dump(SyncSummary s) => $"pending={s.Pending} errors={s.Errors} up={s.FilesUploaded} down={s.FilesDownloaded} notes=[{string.Join(" | ", s.Notes)}]";

    // (1a) synced NFC file replaced on disk by an NFD-named copy: remote must stay, NFD bytes must stay.
    [Fact]
    public async Task A_synced_file_replaced_by_an_NFD_copy_keeps_both_and_deletes_nothing()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write(C, "v1");
        a.Write("keep.txt", "k");
        await a.SyncAsync();
        await b.SyncAsync();
        File.Delete(a.PathOf(C));
        a.Write(D, "v2 from mac");
        var s1 = await a.SyncAsync();
        var s2 = await a.SyncAsync();
        Assert.True(_server.Current(C) is { } e && e.Size == 2, "remote deleted/changed: " + Dump(s1));
        Assert.Equal("v2 from mac", File.ReadAllText(Path.Combine(a.Folder, D)));
        Assert.Equal(0, s2.Pending);
        // then b edits, and b deletes
        b.Write(C, "v3 from b");
        await b.SyncAsync();
        var s3 = await a.SyncAsync();
        Assert.Equal("v2 from mac", File.ReadAllText(Path.Combine(a.Folder, D)));
        Assert.False(File.Exists(Path.Combine(a.Folder, C)), "downloaded beside: " + Dump(s3));
        File.Delete(b.PathOf(C));
        var sb = await b.SyncAsync();
        var s4 = await a.SyncAsync();
        Assert.Equal("v2 from mac", File.ReadAllText(Path.Combine(a.Folder, D)));
        // user renames as advised
        File.Move(Path.Combine(a.Folder, D), a.PathOf(C));
        var s5 = await a.SyncAsync();
        Assert.True(_server.Current(C) is { } e5 && e5.Size == (ulong)"v2 from mac".Length, "after rename: " + Dump(s5));
    }

    // (1b) remote rename of the NFC path while the NFD one is withheld
    [Fact]
    public async Task A_remote_rename_while_the_NFD_file_is_withheld_downloads_the_new_name()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write(C, "v1");
        await a.SyncAsync();
        await b.SyncAsync();
        File.Delete(a.PathOf(C));
        a.Write(D, "mac");
        await a.SyncAsync();
        File.Move(b.PathOf(C), b.PathOf("moved.txt"));
        await b.SyncAsync();
        var s = await a.SyncAsync();
        Assert.Equal("mac", File.ReadAllText(Path.Combine(a.Folder, D)));
        Assert.Equal("v1", a.Read("moved.txt"));
        Assert.Equal(0, s.Errors);
    }

    // (1c) NFD folder replacing a synced NFC folder with files: nothing deleted; guard not tripped
    [Fact]
    public async Task A_synced_folder_renamed_to_an_NFD_name_deletes_nothing()
    {
        using var a = new TestClient(_dir, "a", _server);
        for (var i = 0; i < 20; i++)
        {
            a.Write($"{CF}/f{i}.txt", "x" + i);
        }

        a.Write("other.txt", "o");
        await a.SyncAsync();
        Directory.Move(a.PathOf(CF), Path.Combine(a.Folder, DF));
        var s = await a.SyncAsync();
        Assert.Equal(0, s.Errors);
        for (var i = 0; i < 20; i++)
        {
            Assert.NotNull(_server.Current($"{CF}/f{i}.txt"));
            Assert.Equal("x" + i, File.ReadAllText(Path.Combine(a.Folder, DF, $"f{i}.txt")));
        }
        var s2 = await a.SyncAsync();
        Assert.Equal(0, s2.Pending);
    }

    // (1d/2) synced NFC file with an NFD sibling of the same composed name: is the NFC file still synced both ways?
    [Fact]
    public async Task A_synced_file_with_an_NFD_sibling_gets_a_remote_edit()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write(C, "v1");
        await a.SyncAsync();
        await b.SyncAsync();
        a.Write(D, "mac");
        await a.SyncAsync();
        b.Write(C, "v2 from b");
        await b.SyncAsync();
        var s = await a.SyncAsync();
        var s2 = await a.SyncAsync();
        Assert.True("v2 from b" == a.Read(C), "NFC file not updated: " + Dump(s) + " // " + Dump(s2));
    }

    [Fact]
    public async Task A_synced_folder_with_an_NFD_sibling_folder_keeps_syncing_new_remote_files()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write($"{CF}/one.txt", "1");
        a.Write($"{CF}/two.txt", "2");
        await a.SyncAsync();
        await b.SyncAsync();
        a.Write($"{DF}/mac.txt", "mac");
        await a.SyncAsync();
        b.Write($"{CF}/new-from-b.txt", "nb");
        await b.SyncAsync();
        File.Delete(a.PathOf($"{CF}/two.txt"));
        var s = await a.SyncAsync();
        var s2 = await a.SyncAsync();
        var msgs = Dump(s) + " // " + Dump(s2);
        Assert.True(File.Exists(a.PathOf($"{CF}/new-from-b.txt")), "new remote file under the NFC folder not downloaded: " + msgs);
        Assert.True(_server.Current($"{CF}/two.txt") is null, "local delete under NFC folder not sent: " + msgs);
    }

    // (1e) download into a folder whose on-disk name is NFD (the folder never synced)
    [Fact]
    public async Task A_remote_file_under_a_folder_named_in_NFD_here_makes_no_composed_folder()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write($"{DF}/mac.txt", "mac");
        b.Write($"{CF}/fromb.txt", "b");
        await b.SyncAsync();
        var s = await a.SyncAsync();
        Assert.False(Directory.Exists(a.PathOf(CF)), "NFC folder created beside NFD one: " + Dump(s));
        Assert.Equal(0, s.Pending);
    }

    // (2) a withheld NFD name's case-fold makes a new remote file at another case of its composed name be renamed on the server
    [Fact]
    public async Task A_remote_newcomer_at_a_withheld_NFD_name_keeps_both()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("Cafe\u0301.txt", "mac");
        a.Write("keep.txt", "k");
        await a.SyncAsync();
        b.Write(C, "from b");
        await b.SyncAsync();
        var s = await a.SyncAsync();
        Assert.True(_server.Current(C) is not null, "b's file renamed on the server because of a's withheld NFD file: " + Dump(s));
    }

    // (2) the daemon's event filter reads the NFD relative path against rules the scan matches with NFC paths
    [Fact]
    public void The_watcher_filter_ignores_an_NFD_spelling_of_an_ignored_folder()
    {
        var folder = _dir.CreateSub("w");
        var state = Path.Combine(folder, ".state");
        var root = Dropbox.SyncClient.Local.IgnoreMatcher.Create([CF + "/"]);
        var ignore = new Dropbox.SyncClient.Local.IgnoreTree(root);
        Assert.True(root.IsIgnored(CF + "/x.tmp", false) || root.IsIgnored(CF, true));
        Assert.False(FolderWatch.Matters(folder, state, ignore, Path.Combine(folder, CF, "x.tmp")));
        Assert.False(FolderWatch.Matters(folder, state, ignore, Path.Combine(folder, DF, "x.tmp")), "an event under the NFD-named, ignored folder triggers a pass");
    }

    // (1) the user follows the advice (renames the NFD file to the composed name) while the server has another file there
    [Fact]
    public async Task Renaming_as_advised_onto_a_taken_remote_name_keeps_both_contents()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write(D, "mac bytes");
        a.Write("keep.txt", "k");
        b.Write(C, "b bytes");
        await b.SyncAsync();
        await a.SyncAsync();
        File.Move(Path.Combine(a.Folder, D), a.PathOf(C));
        var s = await a.SyncAsync();
        var s2 = await a.SyncAsync();
        await b.SyncAsync();
        var all = string.Join(", ", TestClient.FilesIn(a.Folder).Select(f => Path.GetFileName(f) + "=" + File.ReadAllText(f)));
        Assert.True(all.Contains("mac bytes") && all.Contains("b bytes"), all + " // " + Dump(s) + " // " + Dump(s2));
        var allB = string.Join(", ", TestClient.FilesIn(b.Folder).Select(f => Path.GetFileName(f) + "=" + File.ReadAllText(f)));
        Assert.True(allB.Contains("mac bytes") && allB.Contains("b bytes"), allB);
    }

    // the "composed name reaches the same entry" branch, reachable on ext4 with a hard link: is the file synced once?
    [Fact]
    public async Task Two_links_of_one_file_under_both_spellings_rename_nothing()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("ni\u00f1o.txt", "composed here");
        a.Write("keep.txt", "k");
        await a.SyncAsync();
        using (var p = System.Diagnostics.Process.Start("ln", [a.PathOf("ni\u00f1o.txt"), Path.Combine(a.Folder, "nin\u0303o.txt")])) { p!.WaitForExit(); }
        var s = await a.SyncAsync();
        var s2 = await a.SyncAsync();
        var all = string.Join(", ", TestClient.FilesIn(a.Folder).Select(f => Path.GetFileName(f) + "=" + File.ReadAllText(f)));
        Assert.True(TestClient.FilesIn(a.Folder).Length == 3 && s.Conflicts == 0 && s2.Conflicts == 0 && s.Pending == 0 && !all.Contains("Case Conflict", StringComparison.Ordinal), all + " // " + Dump(s) + " // " + Dump(s2));
    }
}
