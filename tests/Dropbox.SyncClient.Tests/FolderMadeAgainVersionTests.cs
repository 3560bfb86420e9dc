using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A synced folder that another device deletes and makes again on the server is listed at a new version while it stays
/// a folder here and there: its row must take that version (<c>SyncActionKind.RecordFolder</c>), or a later
/// case-conflict rename of it goes to the server with the row's old version and is refused, is made here alone, and the
/// server's folder comes down and clashes again (the planner property test's seeds 8wL3IkUjDy72 and 40aUl64wMmj2).
/// </summary>
public sealed class FolderMadeAgainVersionTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_folder_made_again_on_the_server_is_renamed_there_for_a_later_case_clash()
    {
        using var a = new TestClient(_dir, "a", _server);
        await _server.CreateFolderAsync(new CreateFolderRequest { Path = "docs", Device = "web" }, CancellationToken.None);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "docs/x.txt", "kept");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        var synced = a.State.GetFile("docs")!.Version;

        // From the web, 'Docs' (so on the server the older of the two names); then another device deletes 'docs' and
        // makes it again with the same file: a folder on every side, at a new version there. Both come down in one pass
        // ('Docs' beside 'docs': this folder tells them apart).
        await _server.CreateFolderAsync(new CreateFolderRequest { Path = "Docs", Device = "web" }, CancellationToken.None);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "Docs/y.txt", "other", client: "web2");
        await _server.DeleteFileAsync(new DeleteFileRequest { Path = "docs", Device = "b" }, CancellationToken.None);
        await _server.CreateFolderAsync(new CreateFolderRequest { Path = "docs", Device = "b" }, CancellationToken.None);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "docs/x.txt", "kept", client: "web3");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        var listed = _server.Current("docs")!.Version;
        Assert.NotEqual(synced, listed);
        Assert.Equal(listed, a.State.GetFile("docs")!.Version); // without: the row kept the version of the folder deleted there

        // 'docs' is the newer name on the server: it loses, and is renamed there first with the version its row holds.
        var notes = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var pass = await a.SyncAsync();
            Assert.Equal(0, pass.Errors);
            notes.AddRange(pass.Notes.Where(n => n.StartsWith("case conflict: ", StringComparison.Ordinal)));
        }

        Assert.False(notes.Exists(n => n.Contains("could not be renamed", StringComparison.Ordinal)), "refused by the server: " + string.Join(" | ", notes));
        var files = (await _server.ListFilesAsync(new ListFilesRequest { Prefix = string.Empty }, CancellationToken.None)).Entries
            .Where(e => e.Kind == EntryKind.File && !e.Deleted && !e.Path.StartsWith("staging/", StringComparison.Ordinal)).Select(e => e.Path).Order(StringComparer.Ordinal).ToList();
        Assert.True(files.SequenceEqual(["Docs/y.txt", "docs (Case Conflict)/x.txt"]), $"the server holds [{string.Join(", ", files)}]; the notes: [{string.Join(" | ", notes)}]");
        Assert.Equal("kept", a.Read("docs (Case Conflict)/x.txt"));
        Assert.Equal("other", a.Read("Docs/y.txt"));
        Assert.False(Directory.Exists(a.PathOf("docs")), "the server's 'docs' came down again");
    }
}
