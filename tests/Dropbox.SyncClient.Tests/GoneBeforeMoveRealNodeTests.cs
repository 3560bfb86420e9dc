using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;
using Dropbox.SyncClient.Tests.Contract;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// From a review (dr50): tests of the gone-before-move deletes (LocalCaseRenames.GoneBeforeMove, FollowedCaseMoves.WithGone) against the REAL
/// metadata node and storage node (<see cref="RealNodes"/>), not the FakeServer: a case-conflict move of a folder whose
/// contents hold a nested folder, a folder the server has no entry for (made only by a file in it), NFC, astral and
/// private-use names (UTF-16 and UTF-8 order differ for them), and a listing over two pages. Another device deletes one
/// file between the pass's listing and its move (or makes a file at the new path after the listing): nothing else may be
/// deleted here, the delete must be applied, an edit must reach the server, and both sides must end with the same files.
/// </summary>
public sealed class GoneBeforeMoveRealNodeTests(RealNodes nodes) : IClassFixture<RealNodes>, IDisposable
{
    private const string Moved = "docs (Case Conflict)";

    private static readonly (string Name, string Text)[] Files =
    [
        ("x.txt", "synced here, deleted by the other device"),
        ("keep.txt", "kept"),
        ("caf\u00e9.txt", "composed name"),
        ("\U0001F600.txt", "astral name"),
        ("\uE000.txt", "private-use name"),
        ("\uFF21.txt", "fullwidth name"),
    ];

    private readonly TempFolder _dir = new();

    private readonly List<RealNodeDevice> _devices = [];

    public void Dispose()
    {
        foreach (var d in _devices)
        {
            d.Dispose();
        }

        _dir.Dispose();
    }

    [Fact]
    public async Task Real_node_a_file_deleted_between_listing_and_move_is_deleted_here_and_nothing_else()
    {
        var (a, web) = await ClashAsync(folders: 0);
        a.BeforeMoveFile = DeleteXOnce(web);

        var notes = await SettleAsync(a);

        await AssertSameAsync(a, web, notes);
        Assert.False(File.Exists(a.PathOf($"{Moved}/x.txt")), "x.txt deleted on the server stayed here; notes: " + string.Join(" | ", notes));
        AssertTheOthersHere(a, notes);
    }

    [Fact]
    public async Task Real_node_a_folder_listed_over_two_pages_loses_only_the_file_deleted_before_the_move()
    {
        var (a, web) = await ClashAsync(folders: RemoteChanges.PageSize + 5);
        a.BeforeMoveFile = DeleteXOnce(web);

        var notes = await SettleAsync(a);

        await AssertSameAsync(a, web, notes);
        Assert.False(File.Exists(a.PathOf($"{Moved}/x.txt")));
        AssertTheOthersHere(a, notes);
        Assert.True(Directory.Exists(a.PathOf($"{Moved}/f{RemoteChanges.PageSize + 4:D4}")), "a folder of the second page was deleted here");
    }

    [Fact]
    public async Task Real_node_a_file_made_at_the_new_path_after_the_listing_is_kept_here()
    {
        var (a, web) = await ClashAsync(folders: 0);
        a.BeforeMoveFile = DeleteXOnce(web);
        var made = false;
        a.AfterListFiles = async r =>
        {
            if (r.Prefix == Moved && !made)
            {
                made = true;
                await web.MoveFileAsync(new MoveFileRequest { FromPath = "stage/other.txt", ToPath = $"{Moved}/x.txt", Device = "b" }, CancellationToken.None);
            }
        };

        var notes = await SettleAsync(a);

        Assert.True(made, "no listing of the moved folder was taken; notes: " + string.Join(" | ", notes));
        await AssertSameAsync(a, web, notes);
        Assert.Equal("made again by another device", a.Read($"{Moved}/x.txt"));
        AssertTheOthersHere(a, notes);
    }

    [Fact]
    public async Task Real_node_an_edit_here_of_a_file_deleted_before_the_move_reaches_the_server()
    {
        var (a, web) = await ClashAsync(folders: 0);
        a.BeforeMoveFile = DeleteXOnce(web);
        var notes = new List<string>();
        for (var i = 0; i < 3 && !Directory.Exists(a.PathOf(Moved)); i++)
        {
            var pass = await a.SyncAsync(nodes.Url);
            notes.AddRange(pass.Notes);
            Assert.True(pass.ErrorMessages.Count == 0, string.Join(" | ", pass.ErrorMessages));
        }

        Assert.True(File.Exists(a.PathOf($"{Moved}/x.txt")), "no rename was made: " + string.Join(" | ", notes));
        a.Write($"{Moved}/x.txt", "edited here after the rename");
        File.SetLastWriteTimeUtc(a.PathOf($"{Moved}/x.txt"), DateTime.UtcNow.AddMinutes(-5));

        notes.AddRange(await SettleAsync(a));

        await AssertSameAsync(a, web, notes);
        Assert.Equal("edited here after the rename", a.Read($"{Moved}/x.txt"));
        var listed = await web.ListFilesAsync(new ListFilesRequest { Prefix = Moved }, CancellationToken.None);
        Assert.Contains(listed.Entries, e => e.Path == $"{Moved}/x.txt" && !e.Deleted && e.Size == (ulong)"edited here after the rename".Length);
        AssertTheOthersHere(a, notes);
    }

    /// <summary>Right before a's move of 'docs' on the server, another device deletes docs/x.txt (once).</summary>
    private static Func<MoveFileRequest, Task> DeleteXOnce(Remote.IMetadataRemote web)
    {
        var done = false;
        return async r =>
        {
            if (r.FromPath == "docs" && !done)
            {
                done = true;
                await web.DeleteFileAsync(new DeleteFileRequest { Path = "docs/x.txt", Device = "b" }, CancellationToken.None);
            }
        };
    }

    /// <summary>
    /// 'Docs' synced at a; then another device makes 'docs' beside it on the server (a folder entry, <paramref name="folders"/>
    /// empty folders in it, the files of <see cref="Files"/>, a nested folder 'sub' and a file in 'imp', which has no folder
    /// entry), all moved there from 'stage' (as uploaded by w); a syncs it down, its next pass renames 'docs'.
    /// </summary>
    private async Task<(RealNodeDevice A, Remote.IMetadataRemote Web)> ClashAsync(int folders)
    {
        var token = nodes.NewUserToken();
        var w = Device("w", token);
        w.Write("Docs/y.txt", "older");
        foreach (var (name, text) in Files)
        {
            w.Write($"stage/{name}", text);
        }

        w.Write("stage/sub/deep.txt", "deep");
        w.Write("stage/imp/q.txt", "in a folder with no entry");
        w.Write("stage/other.txt", "made again by another device");
        AssertClean(await w.SyncAsync(nodes.Url));
        var a = Device("a", token);
        AssertClean(await a.SyncAsync(nodes.Url));

        var web = w.Remote(nodes.Url);
        await web.CreateFolderAsync(new CreateFolderRequest { Path = "docs", Device = "web" }, CancellationToken.None);
        for (var i = 0; i < folders; i++)
        {
            await web.CreateFolderAsync(new CreateFolderRequest { Path = $"docs/f{i:D4}", Device = "web" }, CancellationToken.None);
        }

        foreach (var (name, _) in Files)
        {
            await web.MoveFileAsync(new MoveFileRequest { FromPath = $"stage/{name}", ToPath = $"docs/{name}", Device = "web" }, CancellationToken.None);
        }

        await web.CreateFolderAsync(new CreateFolderRequest { Path = "docs/sub", Device = "web" }, CancellationToken.None);
        await web.MoveFileAsync(new MoveFileRequest { FromPath = "stage/sub/deep.txt", ToPath = "docs/sub/deep.txt", Device = "web" }, CancellationToken.None);
        await web.MoveFileAsync(new MoveFileRequest { FromPath = "stage/imp/q.txt", ToPath = "docs/imp/q.txt", Device = "web" }, CancellationToken.None);
        var entries = await ServerEntriesAsync(web);
        Assert.False(entries.ContainsKey("docs/imp"), "the server made a folder entry for docs/imp");
        Assert.True(entries.ContainsKey("docs/sub"), "no folder entry for docs/sub");

        var down = await a.SyncAsync(nodes.Url);
        AssertClean(down);
        Assert.Equal("synced here, deleted by the other device", File.Exists(a.PathOf("docs/x.txt")) ? a.Read("docs/x.txt") : a.Read($"{Moved}/x.txt"));
        return (a, web);
    }

    private static void AssertTheOthersHere(RealNodeDevice a, List<string> notes)
    {
        foreach (var (name, text) in Files.Skip(1))
        {
            Assert.True(File.Exists(a.PathOf($"{Moved}/{name}")), $"'{name}' (live on the server) is not here; notes: " + string.Join(" | ", notes));
            Assert.Equal(text, a.Read($"{Moved}/{name}"));
        }

        Assert.Equal("deep", a.Read($"{Moved}/sub/deep.txt"));
        Assert.Equal("in a folder with no entry", a.Read($"{Moved}/imp/q.txt"));
        Assert.Equal("older", a.Read("Docs/y.txt"));
    }

    private async Task<List<string>> SettleAsync(RealNodeDevice a)
    {
        var notes = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var pass = await a.SyncAsync(nodes.Url);
            notes.AddRange(pass.Notes);
            Assert.True(pass.ErrorMessages.Count == 0, "errors: " + string.Join(" | ", pass.ErrorMessages) + "; notes: " + string.Join(" | ", notes));
        }

        return notes;
    }

    private static async Task AssertSameAsync(RealNodeDevice a, Remote.IMetadataRemote web, List<string> notes)
    {
        var server = (await ServerEntriesAsync(web)).Values.Where(e => e.Kind == EntryKind.File)
            .Select(e => e.Path).Where(p => !p.StartsWith("stage/", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        var local = TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories)
            .Select(f => SyncPaths.ToRelative(a.Folder, f)).Where(p => !p.StartsWith("stage/", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        Assert.True(server.SequenceEqual(local), $"server [{string.Join(", ", server)}] but here [{string.Join(", ", local)}]; notes: [{string.Join(" | ", notes)}]");
    }

    /// <summary>The live entries on the server (every page), by path.</summary>
    private static async Task<Dictionary<string, FileEntry>> ServerEntriesAsync(Remote.IMetadataRemote web)
    {
        var entries = new Dictionary<string, FileEntry>(StringComparer.Ordinal);
        await foreach (var page in RemoteChanges.ListFilesPagedAsync(web, string.Empty, includeDeleted: false, RemoteChanges.MaxPages, CancellationToken.None))
        {
            foreach (var e in page.Entries.Where(e => !e.Deleted))
            {
                entries[e.Path] = e;
            }
        }

        return entries;
    }

    private RealNodeDevice Device(string name, string token)
    {
        var d = new RealNodeDevice(_dir, name, token);
        _devices.Add(d);
        return d;
    }

    private static void AssertClean(SyncSummary pass) =>
        Assert.True(pass.ErrorMessages.Count == 0, "errors: " + string.Join(" | ", pass.ErrorMessages) + "; notes: " + string.Join(" | ", pass.Notes));
}
