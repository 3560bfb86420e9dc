using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// New remote files on a folder that folds case (macOS, Windows). Linux test folders are case-sensitive and casefold
/// mounts are not available here, so the fold is simulated through the context's case probe (as the executable-bit
/// tests simulate vfat): the engine then plans as on a case-insensitive device, and the tests assert that plan (what
/// is downloaded in which pass), which on a real case-insensitive folder decides whether the download lands on the
/// local file of the other spelling.
/// </summary>
public sealed class CaseInsensitiveNewDownloadTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_new_remote_name_that_differs_only_in_case_from_a_name_deleted_remotely_is_taken_after_the_delete()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var mac = new TestClient(_dir, "mac", _server, caseProbe: _ => true);
        a.Write("notes.txt", "old notes");
        await a.SyncAsync();
        await mac.SyncAsync();

        // Another device replaces notes.txt by Notes.txt (a delete and a new file, not a move).
        File.Delete(a.PathOf("notes.txt"));
        a.Write("Notes.txt", "new notes");
        await a.SyncAsync();

        // Downloaded in the same pass as the delete of notes.txt, Notes.txt would be that very file on a case-insensitive
        // disk: moved aside as a conflicted copy, or deleted by the delete of notes.txt.
        var first = await mac.SyncAsync();
        Assert.False(File.Exists(mac.PathOf("Notes.txt")), "taken in the pass that still had notes.txt here");
        Assert.False(File.Exists(mac.PathOf("notes.txt")));
        Assert.Contains(first.Notes, n => n.Contains("differs only in case", StringComparison.Ordinal));

        var second = await mac.SyncAsync();

        Assert.Equal(0, first.Errors + second.Errors + first.Conflicts + second.Conflicts);
        Assert.Equal(1, second.FilesDownloaded);
        Assert.Equal("new notes", mac.Read("Notes.txt"));
        Assert.Equal(["Notes.txt"], TestClient.FilesIn(mac.Folder).Select(p => Path.GetFileName(p)!).ToArray());
        Assert.False(_server.Current("Notes.txt")!.Deleted);
        Assert.Single(_server.History("Notes.txt"));
    }

    [Fact]
    public async Task A_new_remote_folder_spelling_that_differs_only_in_case_from_a_synced_folder_is_renamed_on_the_server_and_then_downloaded()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var mac = new TestClient(_dir, "mac", _server, caseProbe: _ => true);
        a.Write("docs/notes.txt", "notes");
        a.Write("staging.txt", "new");
        await a.SyncAsync();
        await mac.SyncAsync();
        // The web (no case check there) adds a file under the other spelling of the folder.
        await CommitAsWebAsync("Docs/new.txt", "staging.txt");

        var pass = await mac.SyncAsync();
        Assert.Equal(0, pass.Errors + pass.Conflicts + pass.FilesDownloaded);
        Assert.False(File.Exists(mac.PathOf("Docs/new.txt")));
        var next = await mac.SyncAsync();
        var idle = await mac.SyncAsync();

        Assert.Equal(1, next.FilesDownloaded);
        Assert.Equal("new", mac.Read("Docs (Case Conflict)/new.txt"));
        Assert.Equal("notes", mac.Read("docs/notes.txt"));
        Assert.Equal(0, idle.FilesDownloaded + idle.FilesUploaded + idle.Errors + next.Errors + next.Conflicts);
        Assert.DoesNotContain(idle.Notes, n => n.Contains("case conflict", StringComparison.Ordinal));
        Assert.Null(_server.Current("Docs/new.txt"));
        Assert.False(_server.Current("Docs (Case Conflict)/new.txt")!.Deleted);
        Assert.False(_server.Current("docs/notes.txt")!.Deleted);
    }

    [Fact]
    public async Task A_new_remote_file_that_differs_only_in_case_from_a_synced_file_is_renamed_on_the_server_not_withheld_forever()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var mac = new TestClient(_dir, "mac", _server, caseProbe: _ => true);
        a.Write("notes.txt", "old notes");
        await a.SyncAsync();
        await mac.SyncAsync();
        await CommitAsWebAsync("Notes.txt", "notes.txt");

        await mac.SyncAsync();
        var next = await mac.SyncAsync();
        var idle = await mac.SyncAsync();

        Assert.Equal(1, next.FilesDownloaded);
        Assert.Equal(0, idle.FilesDownloaded + idle.FilesUploaded + next.Conflicts + next.Errors);
        Assert.Equal("old notes", mac.Read("notes.txt"));
        Assert.Equal("old notes", mac.Read("Notes (Case Conflict).txt"));
        Assert.Null(_server.Current("Notes.txt"));
        Assert.False(_server.Current("notes.txt")!.Deleted);
    }

    [Fact]
    public async Task Two_new_remote_names_that_differ_only_in_case_are_not_both_downloaded_the_second_is_renamed_on_the_server()
    {
        // Both names on the server (the web does not check case; a Linux client would rename one itself).
        using var linux = new TestClient(_dir, "linux", _server);
        linux.Write("seed.txt", "seed");
        await linux.SyncAsync();
        await CommitAsWebAsync("README.md", "seed.txt");
        await CommitAsWebAsync("Readme.md", "seed.txt");
        using var mac = new TestClient(_dir, "mac", _server, caseProbe: _ => true);

        var first = await mac.SyncAsync();
        Assert.False(File.Exists(mac.PathOf("Readme.md")), "both spellings taken in one pass");
        var next = await mac.SyncAsync();
        var idle = await mac.SyncAsync();

        Assert.Contains(first.Notes, n => n.Contains("renamed to 'Readme (Case Conflict).md' on the server", StringComparison.Ordinal));
        Assert.Equal(0, first.Conflicts + next.Conflicts + first.Errors + next.Errors);
        Assert.Equal(0, idle.FilesDownloaded + idle.FilesUploaded + next.FilesUploaded + first.FilesUploaded);
        Assert.Equal("seed", mac.Read("README.md"));
        Assert.Equal("seed", mac.Read("Readme (Case Conflict).md"));
        Assert.Null(_server.Current("Readme.md"));
        Assert.NotNull(_server.Current("README.md"));
    }

    /// <summary>Commits <paramref name="path"/> with <paramref name="contentOf"/>'s chunks as the web would (no case check there).</summary>
    private async Task CommitAsWebAsync(string path, string contentOf)
    {
        var staged = _server.Current(contentOf)!;
        var commit = new CommitFileRequest { Path = path, Size = staged.Size, MtimeUnixMs = staged.MtimeUnixMs, Device = "web" };
        commit.Chunks.AddRange(staged.Chunks);
        await _server.CommitFileAsync(commit, CancellationToken.None);
    }
}
