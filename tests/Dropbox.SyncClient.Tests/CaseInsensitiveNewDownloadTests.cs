using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Sync;

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

    [Fact]
    public async Task Where_the_case_probe_cannot_tell_a_clashing_new_remote_file_is_held_back_not_renamed_and_taken_once_it_answers()
    {
        // Readme.md appears beside README.md (the web does not check case). The Mac's probe cannot tell (a full disk, an
        // unwritable root): its volume may be case-sensitive APFS, where a rename on the server would rename the file for
        // every device for nothing, and it may fold case, where a download would land on README.md. Neither until the
        // probe answers.
        using var linux = new TestClient(_dir, "linux", _server);
        linux.Write("README.md", "the readme");
        linux.Write("staging.txt", "another readme");
        await linux.SyncAsync();
        bool? folds = null;
        using var mac = new TestClient(_dir, "mac", _server, caseProbe: _ => folds);
        await mac.SyncAsync();
        await CommitAsWebAsync("Readme.md", "staging.txt");

        var held = await mac.SyncAsync();
        var heldAgain = await mac.SyncAsync();
        Assert.Equal(0, _server.Moves);
        Assert.False(File.Exists(mac.PathOf("Readme.md")), "taken while the probe could not tell");
        Assert.Equal("the readme", mac.Read("README.md"));
        Assert.Contains(held.Notes, n => n.Contains("is held back", StringComparison.Ordinal));
        Assert.Contains(heldAgain.Notes, n => n.Contains("is held back", StringComparison.Ordinal));
        Assert.True(held.Pending > 0 && heldAgain.Pending > 0);
        Assert.False(_server.Current("Readme.md")!.Deleted);

        folds = false; // the probe answers: this volume tells the two names apart
        var taken = await mac.SyncAsync();

        Assert.Equal(1, taken.FilesDownloaded);
        Assert.Equal("another readme", mac.Read("Readme.md"));
        Assert.Equal("the readme", mac.Read("README.md"));
        Assert.Equal(0, _server.Moves);
        Assert.Equal(0, held.Errors + heldAgain.Errors + taken.Errors + taken.Conflicts + held.FilesUploaded + heldAgain.FilesUploaded + taken.FilesUploaded);

        // From here on the two names are a case clash in this folder like any other: the one synced last is renamed
        // here (so a device that folds case can hold both) and both contents stay.
        var renamed = await mac.SyncAsync();
        var idle = await mac.SyncAsync();

        Assert.Equal("another readme", mac.Read("Readme (Case Conflict).md"));
        Assert.Equal("the readme", mac.Read("README.md"));
        Assert.Equal(0, renamed.Errors + idle.Errors + idle.FilesDownloaded + idle.FilesUploaded + idle.Pending);
        Assert.DoesNotContain(idle.Notes, n => n.Contains("case conflict", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_case_conflict_name_the_server_holds_for_a_path_not_synced_here_is_passed_over_for_the_next_free_one()
    {
        // The server has 'Readme (Case Conflict).md', which the Mac ignores (never synced there, in no pass's changes).
        using var linux = new TestClient(_dir, "linux", _server);
        linux.Write("README.md", "the readme");
        linux.Write("Readme (Case Conflict).md", "an older clash");
        linux.Write("staging.txt", "another readme");
        await linux.SyncAsync();
        using var mac = new TestClient(_dir, "mac", _server, caseProbe: _ => true);
        mac.Write(".dropboxignore", "Readme (Case Conflict).md\n");
        await mac.SyncAsync();
        await CommitAsWebAsync("Readme.md", "staging.txt");

        var renamed = await mac.SyncAsync();
        var next = await mac.SyncAsync();
        var idle = await mac.SyncAsync();
        await linux.SyncAsync();

        Assert.Contains(renamed.Notes, n => n.Contains("renamed to 'Readme (Case Conflict 2).md' on the server", StringComparison.Ordinal));
        Assert.Equal(1, next.FilesDownloaded);
        Assert.Equal("another readme", mac.Read("Readme (Case Conflict 2).md"));
        Assert.Equal("the readme", mac.Read("README.md"));
        Assert.False(File.Exists(mac.PathOf("Readme (Case Conflict).md")));
        Assert.Equal("an older clash", linux.Read("Readme (Case Conflict).md"));
        Assert.Equal("another readme", linux.Read("Readme (Case Conflict 2).md"));
        Assert.False(File.Exists(linux.PathOf("Readme.md")));
        Assert.Null(_server.Current("Readme.md"));
        Assert.Equal(0, renamed.Errors + next.Errors + idle.Errors + idle.FilesDownloaded + idle.FilesUploaded + idle.Pending);
    }

    [Fact]
    public async Task A_single_run_gets_past_five_case_conflict_names_the_server_holds_for_paths_not_synced_here()
    {
        // Five "(Case Conflict N)" names on the server that the Mac ignores: in no pass's remote view (not synced there,
        // not changed since its cursor), so only the server's AlreadyExists tells they are taken. The names refused are
        // remembered in memory only, so each `sync --once` run (a new engine) starts again from the first: one run must
        // get past all five.
        using var linux = new TestClient(_dir, "linux", _server);
        linux.Write("README.md", "the readme");
        var taken = new[] { "Readme (Case Conflict).md" }.Concat(Enumerable.Range(2, 4).Select(n => $"Readme (Case Conflict {n}).md")).ToArray();
        foreach (var name in taken)
        {
            linux.Write(name, "an older clash: " + name);
        }

        linux.Write("staging.txt", "another readme");
        await linux.SyncAsync();
        using (var mac = new TestClient(_dir, "mac", _server, caseProbe: _ => true))
        {
            mac.Write(".dropboxignore", string.Concat(taken.Select(n => n + "\n")));
            await mac.SyncAsync();
        }

        await CommitAsWebAsync("Readme.md", "staging.txt");

        SyncSummary renamed, next;
        using (var once = new TestClient(_dir, "mac", _server, caseProbe: _ => true))
        {
            renamed = await once.SyncAsync();
        }

        using (var once = new TestClient(_dir, "mac", _server, caseProbe: _ => true))
        {
            next = await once.SyncAsync();
        }

        await linux.SyncAsync();

        Assert.Contains(renamed.Notes, n => n.Contains("renamed to 'Readme (Case Conflict 6).md' on the server", StringComparison.Ordinal));
        Assert.Equal(1, _server.Moves);
        Assert.Null(_server.Current("Readme.md"));
        Assert.Equal(1, next.FilesDownloaded);
        Assert.Equal("another readme", File.ReadAllText(Path.Combine(_dir.Sub("mac-folder"), "Readme (Case Conflict 6).md")));
        Assert.Equal("the readme", File.ReadAllText(Path.Combine(_dir.Sub("mac-folder"), "README.md")));
        foreach (var name in taken)
        {
            Assert.False(_server.Current(name)!.Deleted);
            Assert.Equal("an older clash: " + name, linux.Read(name));
            Assert.False(File.Exists(Path.Combine(_dir.Sub("mac-folder"), name)));
        }

        Assert.Equal("another readme", linux.Read("Readme (Case Conflict 6).md"));
        Assert.Equal(0, renamed.Errors + next.Errors + next.FilesUploaded);
    }

    [Fact]
    public async Task A_case_conflict_name_that_differs_only_in_case_from_a_name_in_the_remote_view_is_not_picked()
    {
        // In one listing: 'Readme.md' (clashing with README.md here) and 'readme (case conflict).md', a name that the
        // obvious rename target would clash with in turn on this folder.
        using var linux = new TestClient(_dir, "linux", _server);
        linux.Write("README.md", "the readme");
        linux.Write("staging.txt", "another readme");
        await linux.SyncAsync();
        using var mac = new TestClient(_dir, "mac", _server, caseProbe: _ => true);
        await mac.SyncAsync();
        await CommitAsWebAsync("Readme.md", "staging.txt");
        linux.Write("readme (case conflict).md", "a lower-case name");
        await linux.SyncAsync();

        var renamed = await mac.SyncAsync();
        var next = await mac.SyncAsync();
        var idle = await mac.SyncAsync();

        Assert.Contains(renamed.Notes, n => n.Contains("renamed to 'Readme (Case Conflict 2).md' on the server", StringComparison.Ordinal));
        Assert.Equal(1, _server.Moves);
        Assert.Equal("another readme", mac.Read("Readme (Case Conflict 2).md"));
        Assert.Equal("a lower-case name", mac.Read("readme (case conflict).md"));
        Assert.Equal("the readme", mac.Read("README.md"));
        Assert.Equal(0, renamed.Errors + next.Errors + idle.Errors + idle.FilesDownloaded + idle.FilesUploaded + idle.Pending);
    }

    [Fact]
    public async Task Two_macs_racing_on_the_same_clash_rename_it_once_and_both_end_with_both_files()
    {
        using var linux = new TestClient(_dir, "linux", _server);
        linux.Write("README.md", "the readme");
        linux.Write("staging.txt", "another readme");
        await linux.SyncAsync();
        using var mac1 = new TestClient(_dir, "mac1", _server, caseProbe: _ => true);
        using var mac2 = new TestClient(_dir, "mac2", _server, caseProbe: _ => true);
        await mac1.SyncAsync();
        await mac2.SyncAsync();
        await CommitAsWebAsync("Readme.md", "staging.txt");

        // Mac 2 listed Readme.md; just before its rename reaches the server, Mac 1 makes the same rename.
        SyncSummary? mac1Pass = null;
        _server.BeforeMoveFile = async _ =>
        {
            _server.BeforeMoveFile = null;
            mac1Pass = await mac1.SyncAsync();
        };
        var mac2Pass = await mac2.SyncAsync();
        var mac2Next = await mac2.SyncAsync();
        var mac1Next = await mac1.SyncAsync();
        var mac2Idle = await mac2.SyncAsync();
        var mac1Idle = await mac1.SyncAsync();

        Assert.NotNull(mac1Pass);
        Assert.Contains(mac2Pass.Notes, n => n.Contains("could not be renamed on the server", StringComparison.Ordinal));
        Assert.Equal(1, _server.Moves);
        Assert.Null(_server.Current("Readme.md"));
        Assert.Null(_server.Current("Readme (Case Conflict 2).md"));
        foreach (var mac in new[] { mac1, mac2 })
        {
            Assert.Equal("the readme", mac.Read("README.md"));
            Assert.Equal("another readme", mac.Read("Readme (Case Conflict).md"));
            Assert.Equal(3, TestClient.FilesIn(mac.Folder).Length); // and staging.txt
        }

        Assert.Equal(0, mac1Pass!.Errors + mac2Pass.Errors + mac2Next.Errors + mac1Next.Errors + mac2Pass.Conflicts + mac2Next.Conflicts + mac1Next.Conflicts);
        Assert.Equal(0, mac2Idle.FilesDownloaded + mac2Idle.FilesUploaded + mac1Idle.FilesDownloaded + mac1Idle.FilesUploaded + mac1Idle.Pending + mac2Idle.Pending);
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
