using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// Another device resolves a case clash by moving the losing folder 'docs' to 'docs (Case Conflict)' on the server, then
/// changes a file under the new name (edits, deletes or moves it further) before this device follows the move here. The
/// rows follow the folder's move whatever the server did to them since, so the next pass applies that change as any
/// remote change: the file's row never stays behind at the old name, which made the renamed file new here and sent it
/// again (a delete undone, a move duplicated, an edit given a conflicted copy).
/// </summary>
public sealed class CaseConflictFollowedThenChangedTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_file_edited_on_the_server_after_its_folder_moved_comes_down_under_the_followed_name()
    {
        var (a, b) = await FollowedClashAsync();
        using (a)
        using (b)
        {
            b.Write("docs (Case Conflict)/x.txt", "edited by b");
            await b.SyncAsync();

            var story = await SyncUntilQuietAsync(a);

            AssertHere(a, story, ("Docs/y.txt", "new here"), ("docs (Case Conflict)/w.txt", "stays"), ("docs (Case Conflict)/x.txt", "edited by b"));
            AssertServer(story, "Docs/y.txt", "docs (Case Conflict)/w.txt", "docs (Case Conflict)/x.txt");
            AssertRows(a, story, "Docs/y.txt", "docs (Case Conflict)/w.txt", "docs (Case Conflict)/x.txt");
            Assert.Equal(_server.Current("docs (Case Conflict)/x.txt")!.Version, a.State.GetFile("docs (Case Conflict)/x.txt")!.Version);
            Assert.Equal(2, _server.History("docs (Case Conflict)/x.txt").Count); // b's move and b's edit: nothing sent again
        }
    }

    [Fact]
    public async Task A_file_deleted_on_the_server_after_its_folder_moved_is_deleted_here_not_sent_again()
    {
        var (a, b) = await FollowedClashAsync();
        using (a)
        using (b)
        {
            File.Delete(b.PathOf("docs (Case Conflict)/x.txt"));
            await b.SyncAsync();

            var story = await SyncUntilQuietAsync(a, noBytesDown: true);

            AssertHere(a, story, ("Docs/y.txt", "new here"), ("docs (Case Conflict)/w.txt", "stays"));
            AssertServer(story, "Docs/y.txt", "docs (Case Conflict)/w.txt");
            AssertRows(a, story, "Docs/y.txt", "docs (Case Conflict)/w.txt");
            Assert.True(_server.History("docs (Case Conflict)/x.txt").Count == 2, "b's delete was undone:\n" + story); // b's move and b's delete
        }
    }

    [Theory]
    [InlineData("edits")]
    [InlineData("deletes")]
    [InlineData("moves on")]
    public async Task A_file_changed_on_the_server_after_its_folder_moved_is_changed_here_also_when_the_first_follow_is_not_made(string change)
    {
        var (a, b) = await FollowedClashAsync();
        using (a)
        using (b)
        {
            var x = Array.Empty<(string Path, string Text)>();
            switch (change)
            {
                case "edits":
                    b.Write("docs (Case Conflict)/x.txt", "edited by b");
                    x = [("docs (Case Conflict)/x.txt", "edited by b")];
                    break;
                case "deletes":
                    File.Delete(b.PathOf("docs (Case Conflict)/x.txt"));
                    break;
                default:
                    Directory.CreateDirectory(b.PathOf("other"));
                    File.Move(b.PathOf("docs (Case Conflict)/x.txt"), b.PathOf("other/x.txt"));
                    x = [("other/x.txt", "synced")];
                    break;
            }

            await b.SyncAsync();

            // The first pass's rename fails (its new name taken right before it): the paths under both names are withheld
            // and remembered, the server's move with them; the next pass follows it.
            const string Rename = "before case-conflict rename docs -> ";
            a.State.Writer.Step = step =>
            {
                if (step.StartsWith(Rename, StringComparison.Ordinal))
                {
                    Directory.CreateDirectory(a.PathOf(step[Rename.Length..]));
                }
            };
            var first = await a.SyncAsync();
            a.State.Writer.Step = null;
            Directory.Delete(a.PathOf("docs (Case Conflict)"));
            Assert.True(first.Notes.Any(n => n.Contains("could not rename 'docs' to 'docs (Case Conflict)'", StringComparison.Ordinal)), "setup: " + string.Join(" | ", first.Notes));
            Assert.True(first.FilesDownloaded == 0, "setup: something came down while the rename was not made");

            var story = await SyncUntilQuietAsync(a, uploadedBefore: first.FilesUploaded, noBytesDown: change != "edits", movedHere: change == "moves on");

            AssertHere(a, story, [("Docs/y.txt", "new here"), ("docs (Case Conflict)/w.txt", "stays"), .. x]);
            AssertServer(story, ["Docs/y.txt", "docs (Case Conflict)/w.txt", .. x.Select(e => e.Path)]);
            AssertRows(a, story, ["Docs/y.txt", "docs (Case Conflict)/w.txt", .. x.Select(e => e.Path)]);
            Assert.True(_server.History("docs (Case Conflict)/x.txt").Count == 2, "b's change was undone:\n" + story);
        }
    }

    [Fact]
    public async Task A_file_moved_on_the_server_after_its_folder_moved_is_moved_here_not_sent_again()
    {
        var (a, b) = await FollowedClashAsync();
        using (a)
        using (b)
        {
            Directory.CreateDirectory(b.PathOf("other"));
            File.Move(b.PathOf("docs (Case Conflict)/x.txt"), b.PathOf("other/x.txt"));
            await b.SyncAsync();
            Assert.True(_server.Current("other/x.txt") is not null && _server.Current("docs (Case Conflict)/x.txt") is null, "setup: b's move was not made on the server");

            var story = await SyncUntilQuietAsync(a, noBytesDown: true, movedHere: true);

            AssertHere(a, story, ("Docs/y.txt", "new here"), ("docs (Case Conflict)/w.txt", "stays"), ("other/x.txt", "synced"));
            AssertServer(story, "Docs/y.txt", "docs (Case Conflict)/w.txt", "other/x.txt");
            AssertRows(a, story, "Docs/y.txt", "docs (Case Conflict)/w.txt", "other/x.txt");
            Assert.True(_server.History("docs (Case Conflict)/x.txt").Count == 2, "b's move was undone:\n" + story);
            Assert.True(_server.History("other/x.txt").Count == 1, "the moved file was sent again:\n" + story);
        }
    }

    [Fact]
    public async Task A_file_moved_out_of_the_folder_before_the_folder_moved_is_not_carried_along_and_sent_again()
    {
        var (a, b) = await FollowedClashAsync(beforeFolderMove: async b =>
        {
            Directory.CreateDirectory(b.PathOf("other"));
            File.Move(b.PathOf("docs/x.txt"), b.PathOf("other/x.txt"));
            await b.SyncAsync();
        });
        using (a)
        using (b)
        {
            var story = await SyncUntilQuietAsync(a, noBytesDown: true, movedHere: true);

            AssertHere(a, story, ("Docs/y.txt", "new here"), ("docs (Case Conflict)/w.txt", "stays"), ("other/x.txt", "synced"));
            AssertServer(story, "Docs/y.txt", "docs (Case Conflict)/w.txt", "other/x.txt");
            AssertRows(a, story, "Docs/y.txt", "docs (Case Conflict)/w.txt", "other/x.txt");
            Assert.True(_server.History("docs (Case Conflict)/x.txt").Count == 0, "the file moved out was sent again under the folder's new name:\n" + story);
        }
    }

    /// <summary>
    /// 'b' syncs 'docs/x.txt' and 'docs/w.txt'; 'a' has it and makes 'Docs/y.txt' (new here, so 'docs' is the clash's loser once the server
    /// no longer holds it); 'b' moves 'docs' to 'docs (Case Conflict)', as a device that resolved the clash does.
    /// </summary>
    private async Task<(TestClient A, TestClient B)> FollowedClashAsync(Func<TestClient, Task>? beforeFolderMove = null)
    {
        var b = new TestClient(_dir, "b", _server);
        b.Write("docs/x.txt", "synced");
        b.Write("docs/w.txt", "stays");
        await b.SyncAsync();
        var a = new TestClient(_dir, "a", _server);
        await a.SyncAsync();
        a.Write("Docs/y.txt", "new here");
        File.SetLastWriteTimeUtc(a.PathOf("Docs/y.txt"), DateTime.UtcNow.AddHours(-3));
        if (beforeFolderMove is not null)
        {
            await beforeFolderMove(b);
        }

        Directory.Move(b.PathOf("docs"), b.PathOf("docs (Case Conflict)"));
        await b.SyncAsync();
        Assert.True(_server.Current("docs (Case Conflict)/w.txt") is not null, "setup: b's folder move was not made on the server");
        return (a, b);
    }

    /// <summary>
    /// Passes of <paramref name="a"/> until one does nothing (at most 5): the story of them, with what each did. Only
    /// 'Docs/y.txt' is ever uploaded, and nothing becomes a conflicted copy.
    /// </summary>
    private static async Task<string> SyncUntilQuietAsync(TestClient a, bool noBytesDown = false, long uploadedBefore = 0, bool movedHere = false)
    {
        var log = new List<string>();
        long uploaded = uploadedBefore, conflicts = 0, bytesDown = 0, downloaded = 0, moved = 0;
        for (var i = 0; i < 5; i++)
        {
            var p = await a.SyncAsync();
            log.Add($"pass {i + 1}: up={p.FilesUploaded} down={p.FilesDownloaded} moved={p.FilesMoved} deleted={p.FilesDeleted} conflicts={p.Conflicts} bytesDown={p.BytesDownloaded} reused={p.ChunksReused} errors={p.Errors} pending={p.Pending} notes=[{string.Join(" | ", p.Notes)}]");
            Assert.True(p.Errors == 0, string.Join("\n", log));
            (uploaded, conflicts, bytesDown) = (uploaded + p.FilesUploaded, conflicts + p.Conflicts, bytesDown + p.BytesDownloaded);
            (downloaded, moved) = (downloaded + p.FilesDownloaded, moved + p.FilesMoved);
            if (i > 0 && p.FilesUploaded + p.FilesDownloaded + p.FilesMoved + p.FilesDeleted + p.Pending == 0)
            {
                break;
            }
        }

        var story = string.Join("\n", log);
        Assert.True(uploaded == 1 && conflicts == 0, $"sent again, or made a conflicted copy ({uploaded} uploads, {conflicts} conflicts):\n{story}");
        Assert.True(!noBytesDown || bytesDown == 0, $"the bytes of a file here came down again ({bytesDown} bytes):\n{story}");
        Assert.True(!movedHere || (downloaded == 0 && moved == 1), $"the server's move was not made here as a move ({downloaded} downloads, {moved} moves):\n{story}");
        return story;
    }

    private static void AssertHere(TestClient a, string story, params (string Path, string Text)[] expected)
    {
        var here = TestClient.FilesIn(a.Folder, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a.Folder, f).Replace('\\', '/'))
            .Where(f => !f.StartsWith('.')).Order(StringComparer.Ordinal).ToList();
        Assert.True(here.SequenceEqual(expected.Select(e => e.Path).Order(StringComparer.Ordinal)), $"here: {string.Join(", ", here)}\n{story}");
        foreach (var (path, text) in expected)
        {
            Assert.Equal(text, a.Read(path));
        }
    }

    private void AssertServer(string story, params string[] expected)
    {
        var live = _server.LivePaths().Select(p => p[..p.LastIndexOf('(')]).Where(p => !p.StartsWith("staging/", StringComparison.Ordinal)).ToList();
        Assert.True(live.SequenceEqual(expected.Order(StringComparer.Ordinal)), $"server: {string.Join(", ", _server.LivePaths())}\n{story}");
    }

    private static void AssertRows(TestClient a, string story, params string[] expected)
    {
        var files = a.State.LoadFiles().Values.Where(r => r.Kind == State.FileKind.File).Select(r => r.Path).Order(StringComparer.Ordinal).ToList();
        Assert.True(files.SequenceEqual(expected.Order(StringComparer.Ordinal)), $"a's rows: {string.Join(", ", files)}\n{story}");
    }
}
