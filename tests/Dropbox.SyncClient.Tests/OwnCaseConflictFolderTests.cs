using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// Review rd51's probes of the case-conflict crash recovery (<see cref="Sync.DeletesBeforeCaseMoves"/>; a step that moved rows left at the old name by what was on disk, dropped):
/// a folder another device moves to a name that looks like a case-conflict name ("docs (Case Conflict)", a user's own
/// rename) while the user here removed the folder and made an own folder at that name. The control ("docs2") is the same
/// sequence with a plain name.
/// </summary>
public sealed class OwnCaseConflictFolderTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    private async Task<TestClient> SyncedAsync()
    {
        var a = new TestClient(_dir, "a", _server);
        await _server.CreateFolderAsync(new CreateFolderRequest { Path = "docs", Device = "web" }, CancellationToken.None);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "docs/x.txt", "x from web, the other device's bytes");
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "docs/y.txt", "y from web", client: "web2");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal("y from web", a.Read("docs/y.txt"));
        return a;
    }

    private static List<string> ContentsHere(TestClient a) =>
        TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(File.ReadAllText).ToList();

    /// <summary>
    /// Here: docs deleted by the user, an own folder made at <paramref name="target"/> with an own x.txt (never synced).
    /// There: another device moves docs to <paramref name="target"/>. Every byte must be kept: the other device's x.txt
    /// (the own x.txt is a different file, not an edit of it), and y.txt, which the other device moved (a move wins over
    /// a delete here, as it does with the plain name).
    /// </summary>
    [Theory]
    [InlineData("docs2")]
    [InlineData("docs (Case Conflict)")]
    public async Task An_own_folder_at_the_name_another_device_moves_a_folder_to_keeps_every_byte(string target)
    {
        using var a = await SyncedAsync();
        Directory.Delete(a.PathOf("docs"), recursive: true);
        a.Write($"{target}/x.txt", "mine, made here");
        await _server.MoveFileAsync(new MoveFileRequest { FromPath = "docs", ToPath = target, Device = "b" }, CancellationToken.None);

        var notes = await Convergence.SettleAsync(a);

        var here = ContentsHere(a);
        var state = $"here [{string.Join(", ", TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a.Folder, f)))}]; notes: [{string.Join(" | ", notes)}]";
        Assert.True(here.Contains("mine, made here"), "the own x.txt is lost: " + state);
        Assert.True(here.Contains("x from web, the other device's bytes"), "the other device's x.txt is overwritten: " + state);
        Assert.True(_server.Current($"{target}/y.txt") is not null, "y.txt, moved by the other device, is deleted on the server: " + state);
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// As above with an own folder at <paramref name="target"/> holding only an own note.txt (no name in common): the
    /// files the other device moved there must stay on the server (a move there wins over the delete here, as with the
    /// plain name), not be deleted by this client.
    /// </summary>
    [Theory]
    [InlineData("docs2")]
    [InlineData("docs (Case Conflict)")]
    public async Task Files_another_device_moved_to_a_name_an_own_folder_holds_here_are_not_deleted_on_the_server(string target)
    {
        using var a = await SyncedAsync();
        Directory.Delete(a.PathOf("docs"), recursive: true);
        a.Write($"{target}/note.txt", "own note");
        await _server.MoveFileAsync(new MoveFileRequest { FromPath = "docs", ToPath = target, Device = "b" }, CancellationToken.None);

        var notes = await Convergence.SettleAsync(a);

        var state = $"here [{string.Join(", ", TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a.Folder, f)))}]; notes: [{string.Join(" | ", notes)}]";
        Assert.True(_server.Current($"{target}/x.txt") is not null && _server.Current($"{target}/y.txt") is not null,
            "x.txt/y.txt, moved by the other device, were deleted on the server by this client: " + state);
        Assert.Equal("own note", a.Read($"{target}/note.txt"));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// The user here renames docs to "docs (Case Conflict)" and edits x.txt there; the other device makes the same move and
    /// then edits x.txt there too: both edits kept (a conflict), y.txt kept, the two sides the same.
    /// </summary>
    [Fact]
    public async Task The_same_rename_here_and_there_with_both_edits_keeps_both()
    {
        const string target = "docs (Case Conflict)";
        using var a = await SyncedAsync();
        Directory.Move(a.PathOf("docs"), a.PathOf(target));
        File.WriteAllText(a.PathOf($"{target}/x.txt"), "x edited here");
        await _server.MoveFileAsync(new MoveFileRequest { FromPath = "docs", ToPath = target, Device = "b" }, CancellationToken.None);
        using var b = new TestClient(_dir, "b", _server);
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        File.WriteAllText(b.PathOf($"{target}/x.txt"), "x edited by b after the move");
        Assert.Equal(0, (await b.SyncAsync()).Errors);

        var notes = await Convergence.SettleAsync(a);

        var here = ContentsHere(a);
        var state = $"here [{string.Join(", ", TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a.Folder, f)))}]; notes: [{string.Join(" | ", notes)}]";
        Assert.True(here.Contains("x edited here") && here.Contains("x edited by b after the move"), "an edit is lost: " + state);
        Assert.Equal("y from web", a.Read($"{target}/y.txt"));
        await Convergence.AssertSameAsync(_server, a, notes);
    }
}
