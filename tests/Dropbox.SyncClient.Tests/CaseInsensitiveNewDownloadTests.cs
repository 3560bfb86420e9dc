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
    public async Task A_new_remote_name_that_differs_only_in_case_from_a_synced_one_is_not_downloaded_beside_it()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var mac = new TestClient(_dir, "mac", _server, caseProbe: _ => true);
        a.Write("docs/notes.txt", "notes");
        a.Write("staging.txt", "new");
        await a.SyncAsync();
        await mac.SyncAsync();
        // The web (no case check there) adds a file under the other spelling of the folder.
        var staged = _server.Current("staging.txt")!;
        var commit = new CommitFileRequest { Path = "Docs/new.txt", Size = staged.Size, MtimeUnixMs = staged.MtimeUnixMs, Device = "web" };
        commit.Chunks.AddRange(staged.Chunks);
        await _server.CommitFileAsync(commit, CancellationToken.None);

        var pass = await mac.SyncAsync();

        Assert.Equal(0, pass.Errors + pass.Conflicts + pass.FilesDownloaded);
        Assert.False(File.Exists(mac.PathOf("Docs/new.txt")));
        Assert.Equal("notes", mac.Read("docs/notes.txt"));
        Assert.False(_server.Current("docs/notes.txt")!.Deleted);
        Assert.False(_server.Current("Docs/new.txt")!.Deleted);
    }
}
