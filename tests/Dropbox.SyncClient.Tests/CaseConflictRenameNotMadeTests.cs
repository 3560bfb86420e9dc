using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A local case-conflict rename that is not made (its new name taken right before it, by another program) holds every
/// step under its names for a pass; what the server changed there is not lost: a later pass applies it, and the folder
/// ends as the server holds it.
/// </summary>
public sealed class CaseConflictRenameNotMadeTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_remote_delete_at_a_name_whose_case_rename_is_not_made_is_applied_by_a_later_pass()
    {
        using var b = new TestClient(_dir, "b", _server);
        b.Write("Notes.txt", "same");
        await b.SyncAsync();
        using var a = new TestClient(_dir, "a", _server);
        await a.SyncAsync();
        Assert.Equal("same", a.Read("Notes.txt"));

        // Another device deletes 'Notes.txt' and makes 'notes.txt'; here 'Notes.txt' is only touched (same bytes), so
        // the plan renames it aside and forgets the server's delete of its old name (its file is gone from there).
        File.Delete(b.PathOf("Notes.txt"));
        b.Write("notes.txt", "theirs");
        await b.SyncAsync();
        Assert.Null(_server.Current("Notes.txt"));
        File.SetLastWriteTimeUtc(a.PathOf("Notes.txt"), DateTime.UtcNow.AddHours(-3));
        TakeNewNameOnce(a, "Notes.txt");

        var first = await a.SyncAsync();
        Assert.Contains(first.Notes, n => n.Contains("could not rename 'Notes.txt'", StringComparison.Ordinal));
        a.State.Writer.Step = null;
        for (var i = 0; i < 4; i++)
        {
            await a.SyncAsync();
        }

        // The delete was kept for a later pass: 'Notes.txt' is not here while the server has none (nor the other way).
        Assert.True(File.Exists(a.PathOf("Notes.txt")) == (_server.Current("Notes.txt") is not null),
            $"the server's delete of 'Notes.txt' was lost when its case-conflict rename was not made: here={File.Exists(a.PathOf("Notes.txt"))}, on the server={_server.Current("Notes.txt") is not null}; {Differences(a)}");
        Assert.Equal(string.Empty, Differences(a));
        // And the other device's 'notes.txt' keeps its name (not downloaded beside 'Notes.txt' and then renamed aside).
        Assert.Equal("theirs", File.Exists(a.PathOf("notes.txt")) ? a.Read("notes.txt") : $"no 'notes.txt' here; files: {string.Join(", ", Directory.GetFiles(a.Folder).Select(Path.GetFileName))}");
    }

    [Fact]
    public async Task A_remote_newcomer_differing_in_case_from_a_file_whose_rename_is_not_made_is_not_downloaded_beside_it_and_comes_down_later()
    {
        using var b = new TestClient(_dir, "b", _server);
        b.Write("notes.txt", "theirs");
        await b.SyncAsync();
        using var a = new TestClient(_dir, "a", _server);
        a.Write("Notes.txt", "mine");
        TakeNewNameOnce(a, "Notes.txt");

        var pass = await a.SyncAsync();

        Assert.Contains(pass.Notes, n => n.Contains("could not rename 'Notes.txt'", StringComparison.Ordinal));
        Assert.Equal("mine", a.Read("Notes.txt"));
        Assert.False(File.Exists(a.PathOf("notes.txt")), "'notes.txt' was downloaded beside 'Notes.txt', whose case-conflict rename (for exactly that clash) was not made");

        a.State.Writer.Step = null;
        await a.SyncAsync();
        await a.SyncAsync();

        // The held download was remembered: 'notes.txt' keeps its name and comes down once 'Notes.txt' is renamed.
        Assert.Equal("theirs", File.Exists(a.PathOf("notes.txt")) ? a.Read("notes.txt") : $"no 'notes.txt' here; files: {string.Join(", ", Directory.GetFiles(a.Folder).Select(Path.GetFileName))}");
        Assert.False(File.Exists(a.PathOf("Notes.txt")), "'Notes.txt' was never renamed");
        Assert.Equal(string.Empty, Differences(a));
    }

    [Fact]
    public async Task A_remote_newcomer_folder_differing_in_case_from_a_folder_whose_rename_is_not_made_is_not_downloaded_beside_it_and_comes_down_later()
    {
        using var b = new TestClient(_dir, "b", _server);
        b.Write("Docs/x.txt", "on the server");
        await b.SyncAsync();
        using var a = new TestClient(_dir, "a", _server);
        a.Write("docs/a.txt", "new here");
        TakeNewNameOnce(a, "docs", folder: true);

        var pass = await a.SyncAsync();

        Assert.Contains(pass.Notes, n => n.Contains("could not rename 'docs'", StringComparison.Ordinal));
        Assert.False(File.Exists(a.PathOf("Docs/x.txt")), "'Docs/x.txt' was downloaded beside 'docs', whose case-conflict rename was not made");

        a.State.Writer.Step = null;
        for (var i = 0; i < 3; i++)
        {
            await a.SyncAsync();
        }

        Assert.Equal("on the server", File.Exists(a.PathOf("Docs/x.txt")) ? a.Read("Docs/x.txt") : $"no 'Docs/x.txt' here; {Differences(a)}");
        Assert.Equal(string.Empty, Differences(a));
    }

    [Fact]
    public async Task On_a_folder_that_folds_case_a_remote_newcomer_is_not_downloaded_onto_a_file_whose_rename_is_not_made()
    {
        using var b = new TestClient(_dir, "b", _server);
        b.Write("notes.txt", "theirs");
        await b.SyncAsync();
        using var a = new TestClient(_dir, "a", _server, caseProbe: _ => true); // as on APFS, NTFS, vfat: 'notes.txt' is 'Notes.txt'
        a.Write("Notes.txt", "mine");
        TakeNewNameOnce(a, "Notes.txt");

        var pass = await a.SyncAsync();

        Assert.Contains(pass.Notes, n => n.Contains("could not rename 'Notes.txt'", StringComparison.Ordinal));
        Assert.Equal("mine", a.Read("Notes.txt"));
        // (This disk does not fold: the download shows as 'notes.txt'; on a folding one it would be written onto 'Notes.txt'.)
        Assert.False(File.Exists(a.PathOf("notes.txt")), "'notes.txt' was downloaded onto the name of 'Notes.txt' (one file on a folding disk), whose case-conflict rename was not made");
    }

    [Fact]
    public async Task A_followed_server_rename_not_made_here_comes_down_by_a_later_pass_without_renaming_the_winner()
    {
        using var b = new TestClient(_dir, "b", _server);
        b.Write("docs/x.txt", "synced");
        await b.SyncAsync();
        using var a = new TestClient(_dir, "a", _server);
        await a.SyncAsync();
        a.Write("Docs/y.txt", "new here"); // 'docs' (synced) now loses a case clash here

        // Another device resolved the clash on the server: 'docs' -> 'docs (Case Conflict)'; here the rename that follows
        // it fails once (the name held for a moment by another program).
        Directory.Move(b.PathOf("docs"), b.PathOf("docs (Case Conflict)"));
        await b.SyncAsync();
        Assert.NotNull(_server.Current("docs (Case Conflict)/x.txt"));
        TakeNewNameOnce(a, "docs", folder: true);

        var first = await a.SyncAsync();

        Assert.Contains(first.Notes, n => n.Contains("could not rename 'docs' to 'docs (Case Conflict)'", StringComparison.Ordinal));
        Directory.Delete(a.PathOf("docs (Case Conflict)")); // the other program lets go of the name
        a.State.Writer.Step = null;
        var notes = new List<string>(first.Notes);
        for (var i = 0; i < 4; i++)
        {
            notes.AddRange((await a.SyncAsync()).Notes);
        }

        var here = Directory.GetFiles(a.Folder, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a.Folder, f).Replace('\\', '/'))
            .Where(f => !f.StartsWith('.')).Order(StringComparer.Ordinal).ToList();
        // The server's move came down ('docs/x.txt' is under its new name here), and 'Docs', the clash's winner, kept its name.
        Assert.True(here.SequenceEqual(["Docs/y.txt", "docs (Case Conflict)/x.txt"]),
            $"after a followed rename not made, here: {string.Join(", ", here)}; server: {string.Join(", ", _server.LivePaths())}; notes: {string.Join(" | ", notes)}");
        Assert.Equal(string.Empty, Differences(a));
    }

    /// <summary>Makes the new name of the first case-conflict rename of <paramref name="path"/> right before it (as another program would): the rename is not made.</summary>
    private static void TakeNewNameOnce(TestClient client, string path, bool folder = false)
    {
        var prefix = $"before case-conflict rename {path} -> ";
        var made = false;
        client.State.Writer.Step = step =>
        {
            if (!made && step.StartsWith(prefix, StringComparison.Ordinal))
            {
                made = true;
                var target = client.PathOf(step[prefix.Length..]);
                if (folder)
                {
                    Directory.CreateDirectory(target);
                }
                else
                {
                    File.WriteAllText(target, "another program's");
                }
            }
        };
    }

    /// <summary>The files that differ between <paramref name="client"/>'s folder and the server (by path and size), empty when none.</summary>
    private string Differences(TestClient client)
    {
        var here = Directory.GetFiles(client.Folder, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(client.Folder, f).Replace('\\', '/'))
            .Where(f => !f.StartsWith('.'))
            .ToDictionary(f => f, f => new FileInfo(client.PathOf(f)).Length, StringComparer.Ordinal);
        var there = _server.LivePaths()
            .Select(p => p[..p.LastIndexOf('(')])
            .Where(p => _server.Current(p) is { Kind: EntryKind.File })
            .ToDictionary(p => p, p => (long)_server.Current(p)!.Size, StringComparer.Ordinal);
        var differ = here.Keys.Union(there.Keys).Where(p => !here.TryGetValue(p, out var h) || !there.TryGetValue(p, out var t) || h != t).Order(StringComparer.Ordinal).ToList();
        return differ.Count == 0 ? string.Empty
            : "differ: " + string.Join(", ", differ.Select(p => $"{p} (here {(here.TryGetValue(p, out var h) ? h : "-")}, server {(there.TryGetValue(p, out var t) ? t : "-")})"));
    }
}
