using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.SyncClient.Tests;

/// <summary>Which of two names that differ only in case keeps its name: the one synced first, on every device.</summary>
public sealed class CaseConflictWinnerTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_long_synced_file_keeps_its_name_and_a_newcomer_differing_only_in_case_is_renamed()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("notes.txt", "long synced");
        a.Write("staging.txt", "the newcomer");
        await a.SyncAsync();
        await b.SyncAsync();
        var synced = _server.Current("notes.txt")!.Version;

        // A newcomer 'Notes.txt' arrives (another device, the web): the staged content committed under the new name.
        var staged = _server.Current("staging.txt")!;
        var commit = new CommitFileRequest { Path = "Notes.txt", Size = staged.Size, MtimeUnixMs = staged.MtimeUnixMs, Device = "web" };
        commit.Chunks.AddRange(staged.Chunks);
        await _server.CommitFileAsync(commit, CancellationToken.None);

        // Each device takes the newcomer, sees the clash, renames one name; then everyone catches up.
        for (var round = 0; round < 3; round++)
        {
            Assert.Equal(0, (await a.SyncAsync()).Errors);
            Assert.Equal(0, (await b.SyncAsync()).Errors);
        }

        Assert.Equal("long synced", a.Read("notes.txt"));
        Assert.Equal("long synced", b.Read("notes.txt"));
        Assert.Equal(synced, _server.Current("notes.txt")?.Version);
        Assert.Null(_server.Current("Notes.txt"));
        Assert.Equal("the newcomer", a.Read("Notes (Case Conflict).txt"));
        Assert.Equal("the newcomer", b.Read("Notes (Case Conflict).txt"));
        Assert.NotNull(_server.Current("Notes (Case Conflict).txt"));
    }

    [Fact]
    public async Task A_new_local_folder_differing_only_in_case_from_a_remote_folder_without_an_entry_is_renamed_before_upload()
    {
        // The server has 'Docs/a.txt' and no entry for 'Docs' itself; B has a new folder 'docs' of its own.
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("Docs/a.txt", "from a");
        await a.SyncAsync();
        Assert.Null(_server.Current("Docs"));
        b.Write("docs/b.txt", "from b");

        var first = await b.SyncAsync();

        Assert.Equal(0, first.Errors);
        Assert.Null(_server.Current("docs/b.txt")); // never uploaded under a second spelling of the folder
        for (var round = 0; round < 2; round++)
        {
            Assert.Equal(0, (await b.SyncAsync()).Errors);
            Assert.Equal(0, (await a.SyncAsync()).Errors);
        }

        Assert.Null(_server.Current("docs/b.txt"));
        Assert.Equal("from b", a.Read("docs (Case Conflict)/b.txt"));
        Assert.Equal("from b", b.Read("docs (Case Conflict)/b.txt"));
        Assert.Equal("from a", b.Read("Docs/a.txt"));
        Assert.False(Directory.Exists(b.PathOf("docs")));
    }

    [Fact]
    public async Task A_new_local_name_differing_only_in_case_from_a_path_looked_up_this_pass_is_renamed_before_upload()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("d/x.txt", "version 1");
        await a.SyncAsync();
        await b.SyncAsync();

        // B's d/x.txt becomes a link (withheld: never synced); A's edit of it is skipped on B and remembered.
        File.Delete(b.PathOf("d/x.txt"));
        File.CreateSymbolicLink(b.PathOf("d/x.txt"), b.PathOf("elsewhere.txt"));
        a.Write("d/x.txt", "version 2, edited on a");
        await a.SyncAsync();
        Assert.Equal(0, (await b.SyncAsync()).Errors);

        // The link goes and a new 'd/X.txt' comes: the pass looks d/x.txt up (the feed has moved past it).
        File.Delete(b.PathOf("d/x.txt"));
        b.Write("d/X.txt", "new on b");
        var pass = await b.SyncAsync();

        Assert.Equal(0, pass.Errors);
        Assert.Null(_server.Current("d/X.txt")); // never uploaded beside d/x.txt
        Assert.Equal("version 2, edited on a", b.Read("d/x.txt"));
        Assert.Equal("new on b", b.Read("d/X (Case Conflict).txt"));
        Assert.NotNull(_server.Current("d/X (Case Conflict).txt"));
    }

    [Fact]
    public async Task A_long_synced_folder_without_an_entry_of_its_own_keeps_its_name_when_a_newcomer_folder_differing_only_in_case_arrives()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("docs/a.txt", "long synced");
        a.Write("staging.txt", "newcomer");
        await a.SyncAsync();
        await b.SyncAsync();
        var synced = _server.Current("docs/a.txt")!.Version;
        var staged = _server.Current("staging.txt")!;
        var commit = new CommitFileRequest { Path = "Docs/new.txt", Size = staged.Size, MtimeUnixMs = staged.MtimeUnixMs, Device = "web" };
        commit.Chunks.AddRange(staged.Chunks);
        await _server.CommitFileAsync(commit, CancellationToken.None);
        for (var round = 0; round < 3; round++)
        {
            Assert.Equal(0, (await a.SyncAsync()).Errors);
            Assert.Equal(0, (await b.SyncAsync()).Errors);
        }

        // The newcomer folder is the one renamed; nothing under the long-synced one moves.
        Assert.Equal(synced, _server.Current("docs/a.txt")?.Version);
        Assert.Equal("long synced", a.Read("docs/a.txt"));
        Assert.Equal("long synced", b.Read("docs/a.txt"));
        Assert.Null(_server.Current("Docs/new.txt"));
        Assert.NotNull(_server.Current("Docs (Case Conflict)/new.txt"));
    }

    [Fact]
    public async Task A_case_conflict_name_that_differs_only_in_case_from_one_on_the_server_counts_as_taken()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("notes.txt", "long synced");
        a.Write("notes (Case Conflict).txt", "an older conflict's copy");
        await a.SyncAsync();
        using var b = new TestClient(_dir, "b", _server);
        b.Write("Notes.txt", "the newcomer"); // new here, clashing with the server's notes.txt

        for (var round = 0; round < 2; round++)
        {
            Assert.Equal(0, (await b.SyncAsync()).Errors);
        }

        Assert.Equal("the newcomer", b.Read("Notes (Case Conflict 2).txt"));
        Assert.Null(_server.Current("Notes (Case Conflict).txt"));
        Assert.Equal("an older conflict's copy", b.Read("notes (Case Conflict).txt"));
        Assert.Equal("long synced", b.Read("notes.txt"));
    }
}
