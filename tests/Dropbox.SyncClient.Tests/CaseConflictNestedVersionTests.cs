using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A folder renamed on the server for a case clash moves with everything under it, each entry at a new version, while
/// the server's reply carries the folder's alone: the rows under it must take the versions the server gave them, or a
/// later case-conflict rename of a nested name goes with its row's old version and is refused (the planner property
/// test's seed bSC15w_kmxZ2: refused twice, renamed here alone, the server's copy came down and clashed again).
/// </summary>
public sealed class CaseConflictNestedVersionTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_nested_clash_in_a_folder_renamed_on_the_server_is_renamed_there_with_the_versions_the_move_gave()
    {
        using var a = new TestClient(_dir, "a", _server);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "Docs/y.txt", "older");
        Assert.Equal(0, (await a.SyncAsync()).Errors);

        // From the web, after 'Docs': the folder 'docs' with 'Sub', then 'sub' (each folder an entry of its own): on the
        // server 'Docs' is the older name, and 'Sub' the older of the two in 'docs' (the move keeps that order).
        await _server.CreateFolderAsync(new CreateFolderRequest { Path = "docs", Device = "web" }, CancellationToken.None);
        await _server.CreateFolderAsync(new CreateFolderRequest { Path = "docs/Sub", Device = "web" }, CancellationToken.None);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "docs/Sub/x.txt", "kept", client: "web2");
        await _server.CreateFolderAsync(new CreateFolderRequest { Path = "docs/sub", Device = "web" }, CancellationToken.None);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "docs/sub/z.txt", "renamed with its folder", client: "web3");
        Assert.Equal(0, (await a.SyncAsync()).Errors); // 'docs' beside 'Docs' (this folder tells them apart)

        // 'docs' loses and is renamed on the server first: one move, every entry under it at a new version.
        var renamed = await a.SyncAsync();
        Assert.Equal(0, renamed.Errors);
        Assert.NotNull(_server.Current("docs (Case Conflict)/sub/z.txt"));

        // Then 'sub' loses to 'Sub' in the renamed folder, while a file is being written in it: its rename waits a pass.
        a.Write("docs (Case Conflict)/sub/new.txt", "being written");
        var waiting = await a.EngineWith(new SyncOptions { StableAge = TimeSpan.FromHours(1) }).RunPassAsync(CancellationToken.None);
        Assert.Equal(0, waiting.Errors);
        Assert.True(Directory.Exists(a.PathOf("docs (Case Conflict)/sub")));

        File.SetLastWriteTimeUtc(a.PathOf("docs (Case Conflict)/sub/new.txt"), DateTime.UtcNow.AddHours(-2));
        var notes = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            var pass = await a.SyncAsync();
            Assert.Equal(0, pass.Errors);
            notes.AddRange(pass.Notes.Where(n => n.StartsWith("case conflict: ", StringComparison.Ordinal)));
        }

        // Renamed on the server with the versions its move gave (without: 'could not be renamed ... on the server
        // ('docs (Case Conflict)/sub' is at version N, not M)', then renamed here alone and the server's 'sub' came down again).
        Assert.False(notes.Exists(n => n.Contains("could not be renamed", StringComparison.Ordinal)), "refused by the server: " + string.Join(" | ", notes));
        var files = (await _server.ListFilesAsync(new ListFilesRequest { Prefix = string.Empty }, CancellationToken.None)).Entries
            .Where(e => e.Kind == EntryKind.File).Select(e => e.Path).Order(StringComparer.Ordinal).ToList();
        Assert.True(
            files.SequenceEqual(["Docs/y.txt", "docs (Case Conflict)/Sub/x.txt", "docs (Case Conflict)/sub (Case Conflict)/new.txt", "docs (Case Conflict)/sub (Case Conflict)/z.txt"]),
            $"the server holds [{string.Join(", ", files)}]; the notes: [{string.Join(" | ", notes)}]");
        Assert.Equal("renamed with its folder", a.Read("docs (Case Conflict)/sub (Case Conflict)/z.txt"));
        Assert.Equal("being written", a.Read("docs (Case Conflict)/sub (Case Conflict)/new.txt"));
        Assert.Equal("kept", a.Read("docs (Case Conflict)/Sub/x.txt"));
        Assert.False(Directory.Exists(a.PathOf("docs (Case Conflict)/sub")), "the server's 'sub' came down again");
    }

    [Fact]
    public async Task A_folder_renamed_on_the_server_whose_listing_then_fails_is_renamed_with_its_rows_at_their_versions()
    {
        using var a = new TestClient(_dir, "a", _server);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "Docs/y.txt", "older");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        await _server.CreateFolderAsync(new CreateFolderRequest { Path = "docs", Device = "web" }, CancellationToken.None);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "docs/x.txt", "moved with its folder", client: "web2");
        Assert.Equal(0, (await a.SyncAsync()).Errors);

        // The listing after the move fails (the server unreachable for it): the rename stands, its rows keep their versions.
        _server.FailFullListings = 1;
        var log = new List<string>();
        var renamed = await a.EngineWith(a.Context.Options, log.Add).RunPassAsync(CancellationToken.None);

        Assert.Equal(0, renamed.Errors);
        Assert.Equal(0, _server.FailFullListings); // the listing was asked
        Assert.Contains(log, l => l.Contains("could not be read after its move on the server", StringComparison.Ordinal));
        Assert.Equal("moved with its folder", a.Read("docs (Case Conflict)/x.txt"));
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(0, (await a.SyncAsync()).Errors);
        }

        Assert.Equal("moved with its folder", a.Read("docs (Case Conflict)/x.txt"));
        Assert.NotNull(_server.Current("docs (Case Conflict)/x.txt"));
        Assert.Null(_server.Current("docs/x.txt"));
        Assert.False(Directory.Exists(a.PathOf("docs")));
    }

    [Fact]
    public async Task A_folder_whose_listing_after_its_move_fails_on_its_second_page_keeps_every_row_at_its_version()
    {
        // Arrange: 'docs' (loser beside 'Docs') holds more folders than one listing page.
        using var a = new TestClient(_dir, "a", _server);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "Docs/y.txt", "older");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        await _server.CreateFolderAsync(new CreateFolderRequest { Path = "docs", Device = "web" }, CancellationToken.None);
        for (var i = 0; i < RemoteChanges.PageSize + 10; i++)
        {
            await _server.CreateFolderAsync(new CreateFolderRequest { Path = $"docs/f{i:D4}", Device = "web" }, CancellationToken.None);
        }

        Assert.Equal(0, (await a.SyncAsync()).Errors);
        var before = a.State.GetFile("docs/f0000")!.Version;

        // Act: the rename's listing of the moved folder fails at its second page.
        var pages = 0;
        _server.BeforeListFiles = () =>
        {
            if (++pages == 2)
            {
                throw new Dropbox.Shared.Errors.DropboxException(Dropbox.Shared.Errors.ErrorKind.Unavailable, "the fake server is down for this page");
            }
        };
        var renamed = await a.SyncAsync();
        _server.BeforeListFiles = null;

        // Assert: renamed, and no row took a listed version (without: the first page's rows did, the others not).
        Assert.Equal(0, renamed.Errors);
        Assert.True(pages >= 2, $"the listing asked {pages} page(s)");
        Assert.Equal(before, a.State.GetFile("docs (Case Conflict)/f0000")!.Version);
    }
}
