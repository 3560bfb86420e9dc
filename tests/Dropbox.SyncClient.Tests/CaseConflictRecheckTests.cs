using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The re-check right before a case-conflict rename (and before the server's): all clashes' facts are read first, so a
/// loser may go, its picked name may be made, or a walked folder written in, while a later clash is read. Each hook runs
/// in that window (<see cref="SyncEngine.AfterFolderWalk"/> of a later folder clash).
/// </summary>
public sealed class CaseConflictRecheckTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Picked_name_made_here_after_the_facts_of_a_server_held_loser_waits_a_pass_and_takes_the_next_name()
    {
        using var b = await ServerHeldClashAsync();
        const string mine = "mine, made meanwhile";
        var engine = new SyncEngine(b.Context) { AfterFolderWalk = _ => File.WriteAllText(b.PathOf("Readme (Case Conflict).txt"), mine) };

        var pass = await engine.RunPassAsync(CancellationToken.None);

        Assert.Equal(0, pass.Errors);
        Assert.NotNull(_server.Current("Readme.txt")); // not moved on the server onto the name taken here
        Assert.Null(_server.Current("Readme (Case Conflict).txt"));
        Assert.Contains(pass.Notes, n => n.Contains("was made here meanwhile", StringComparison.Ordinal));
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(0, (await b.SyncAsync()).Errors);
        }

        var here = Here(b);
        Assert.Equal(["README.txt=older", "Readme (Case Conflict 2).txt=newer", "Readme (Case Conflict).txt=" + mine, "ZZ (Case Conflict)/new.txt=new folder here", "staging/Readme.txt=newer", "zz/a.txt=on the server"], here);
        Assert.Null(_server.Current("Readme.txt"));
        Assert.Equal("newer".Length, (long)_server.Current("Readme (Case Conflict 2).txt")!.Size);
        Assert.Equal(mine.Length, (long)_server.Current("Readme (Case Conflict).txt")!.Size);
    }

    [Fact]
    public async Task Loser_deleted_here_after_its_facts_is_not_moved_on_the_server_and_its_delete_syncs()
    {
        using var b = await ServerHeldClashAsync();
        var engine = new SyncEngine(b.Context) { AfterFolderWalk = _ => File.Delete(b.PathOf("Readme.txt")) };

        var pass = await engine.RunPassAsync(CancellationToken.None);

        Assert.Equal(0, pass.Errors);
        Assert.Null(_server.Current("Readme (Case Conflict).txt"));
        Assert.Contains(pass.Notes, n => n.Contains("is no longer here", StringComparison.Ordinal));
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(0, (await b.SyncAsync()).Errors);
        }

        Assert.Equal(["README.txt=older", "ZZ (Case Conflict)/new.txt=new folder here", "staging/Readme.txt=newer", "zz/a.txt=on the server"], Here(b));
        Assert.Null(_server.Current("Readme.txt")); // the delete here went up
        Assert.Null(_server.Current("Readme (Case Conflict).txt"));
        Assert.NotNull(_server.Current("README.txt"));
    }

    [Fact]
    public async Task Picked_name_made_here_after_the_walk_of_a_server_held_folder_waits_a_pass()
    {
        using var b = new TestClient(_dir, "b", _server);
        b.Write("Docs/a.txt", "older");
        b.Write("zz/a.txt", "on the server");
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        await CommitAsync("docs/b.txt", "newer");
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        Assert.True(File.Exists(b.PathOf("docs/b.txt")), string.Join(",", TestClient.FilesIn(b.Folder, "*", SearchOption.AllDirectories)));
        b.Write("ZZ/new.txt", "new folder here");
        var walked = new List<string>();
        var engine = new SyncEngine(b.Context)
        {
            AfterFolderWalk = p =>
            {
                walked.Add(p);
                if (walked.Count == 2)
                {
                    Directory.CreateDirectory(b.PathOf("docs (Case Conflict)"));
                    File.WriteAllText(b.PathOf("docs (Case Conflict)/mine.txt"), "mine, made meanwhile");
                }
            },
        };

        var pass = await engine.RunPassAsync(CancellationToken.None);

        Assert.Equal(0, pass.Errors);
        Assert.Null(_server.Current("docs (Case Conflict)/b.txt"));
        Assert.Null(_server.Current("Docs (Case Conflict)/a.txt"));
        Assert.True(pass.Notes.Any(n => n.Contains("was made here meanwhile", StringComparison.Ordinal)), string.Join(" | ", walked) + ": " + string.Join(" | ", pass.Notes));
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(0, (await b.SyncAsync()).Errors);
        }

        var here = Here(b);
        Assert.Contains("docs (Case Conflict)/mine.txt=mine, made meanwhile", here);
        Assert.Single(here, f => f.EndsWith("b.txt=newer", StringComparison.Ordinal) && !f.StartsWith("staging/", StringComparison.Ordinal));
        Assert.Single(here, f => f.EndsWith("a.txt=older", StringComparison.Ordinal));
        Assert.DoesNotContain(here, f => f.Contains("conflicted", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// A server-held folder loser deleted here after its walk, while a later clash is read. With the stability rule off
    /// (the test client's zero StableAge) the walk records no folders, so the look for changes since the walk cannot see
    /// the delete: only the folder half of <see cref="LocalCaseFacts.CannotRenameNow"/> keeps the server from moving the
    /// deleted folder, which would then come back here as 'docs (Case Conflict)'.
    /// </summary>
    [Fact]
    public async Task Server_held_folder_loser_deleted_here_after_its_walk_is_not_moved_on_the_server()
    {
        using var b = new TestClient(_dir, "b", _server);
        b.Write("Docs/a.txt", "older");
        b.Write("zz/a.txt", "on the server");
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        await CommitAsync("docs/b.txt", "newer");
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        Assert.True(File.Exists(b.PathOf("docs/b.txt")), "setup: docs/b.txt not downloaded to b");
        b.Write("ZZ/new.txt", "new folder here");
        var walked = new List<string>();
        var engine = new SyncEngine(b.Context)
        {
            AfterFolderWalk = p =>
            {
                walked.Add(p);
                if (walked.Count == 2)
                {
                    Directory.Delete(b.PathOf("docs"), recursive: true);
                }
            },
        };

        var pass = await engine.RunPassAsync(CancellationToken.None);

        var notes = string.Join(" | ", pass.Notes);
        Assert.Equal(0, pass.Errors);
        Assert.True(walked.SequenceEqual(["docs", "ZZ"]), "setup: the folders were not walked docs then ZZ: " + string.Join(", ", walked));
        Assert.True(_server.Current("docs (Case Conflict)/b.txt") is null, "the folder deleted here after its walk was moved on the server: " + notes);
        Assert.True(pass.Notes.Any(n => n.Contains("is no longer here", StringComparison.Ordinal)), "no 'no longer here' note for the deleted folder: " + notes);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(0, (await b.SyncAsync()).Errors);
        }

        var story = "here: " + string.Join(", ", Here(b)) + "; server: " + string.Join(", ", _server.LivePaths());
        Assert.False(Here(b).Any(f => f.StartsWith("docs (Case Conflict)", StringComparison.Ordinal)), "the deleted folder came back here under its picked name: " + story);
        Assert.True(_server.Current("docs/b.txt") is null, "the delete here did not go up: " + story);
        Assert.True(_server.Current("docs (Case Conflict)/b.txt") is null, "the deleted folder is on the server under its picked name: " + story);
    }

    [Fact]
    public async Task Folder_written_in_after_its_walk_while_a_later_clash_is_read()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("da/x.txt", "synced");
        a.Write("zz/x.txt", "synced");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        using var b = new TestClient(_dir, "b", _server, new SyncOptions { StableAge = SyncOptions.DefaultStableAge });
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        var old = DateTime.UtcNow.AddHours(-2);
        foreach (var f in new[] { "DA/y.txt", "ZZ/y.txt" })
        {
            b.Write(f, "new here");
            File.SetLastWriteTimeUtc(b.PathOf(f), old);
            Directory.SetLastWriteTimeUtc(b.PathOf(Path.GetDirectoryName(f)!), old);
        }

        var engine = new SyncEngine(b.Context)
        {
            AfterFolderWalk = p => { if (p == "ZZ") { File.WriteAllText(b.PathOf("DA/late.txt"), "copied on"); } },
        };

        var pass = await engine.RunPassAsync(CancellationToken.None);

        Assert.Equal(0, pass.Errors);
        Assert.False(Directory.Exists(b.PathOf("DA (Case Conflict)")), "renamed though written in since its walk: " + string.Join(" | ", pass.Notes));
        Assert.Equal("copied on", b.Read("DA/late.txt"));
    }

    /// <summary>
    /// The picked name made here while the server move is under way (after the re-check, before the rename here): the
    /// rename here fails, so the server's move is undone (conditionally, on the version it made). Left on the server, the
    /// loser came back here as a conflicted copy beside its renamed self: its content twice.
    /// </summary>
    [Fact]
    public async Task Picked_name_made_here_during_the_server_move_moves_it_back_on_the_server()
    {
        using var b = new TestClient(_dir, "b", _server);
        b.Write("README.txt", "older");
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        await CommitAsync("Readme.txt", "newer");
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        Assert.True(File.Exists(b.PathOf("Readme.txt")), "setup: Readme.txt not downloaded to b");
        const string mine = "mine, made meanwhile";
        var moves = new List<string>();
        _server.BeforeMoveFile = request =>
        {
            moves.Add(request.FromPath + " -> " + request.ToPath);
            if (moves.Count == 1)
            {
                File.WriteAllText(b.PathOf("Readme (Case Conflict).txt"), mine);
            }

            return Task.CompletedTask;
        };

        var first = await b.SyncAsync();

        var firstNotes = string.Join(" | ", first.Notes) + "; server: " + string.Join(", ", _server.LivePaths());
        Assert.Equal(0, first.Errors);
        Assert.True(moves.SequenceEqual(["Readme.txt -> Readme (Case Conflict).txt", "Readme (Case Conflict).txt -> Readme.txt"]), "the server move was not undone: moves " + string.Join(", ", moves) + "; " + firstNotes);
        Assert.True(_server.Current("Readme.txt") is not null, "the loser is not back at its name on the server: " + firstNotes);
        var log = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            var p = await b.SyncAsync();
            log.Add($"pass {i + 2}: errors={p.Errors} pending={p.Pending} notes=[{string.Join(" | ", p.Notes)}]");
        }

        var here = Here(b);
        var story = string.Join("\n", log) + "\nhere: " + string.Join(", ", here) + "\nserver: " + string.Join(", ", _server.LivePaths());
        Assert.True(log.All(l => l.Contains("errors=0", StringComparison.Ordinal)), "a pass had errors:\n" + story);
        Assert.False(here.Any(f => f.Contains("conflicted", StringComparison.OrdinalIgnoreCase)), "a conflicted copy was made:\n" + story);
        Assert.True(here.Count(f => f.EndsWith("=newer", StringComparison.Ordinal) && !f.StartsWith("staging/", StringComparison.Ordinal)) == 1, "'newer' is not here exactly once:\n" + story);
        Assert.True(here.Contains("Readme (Case Conflict).txt=" + mine), "the file made here meanwhile is not kept at its name:\n" + story);
        Assert.True(here.Contains("Readme (Case Conflict 2).txt=newer"), "the loser did not take the next free name:\n" + story);
        Assert.True((long?)_server.Current("Readme (Case Conflict).txt")?.Size == mine.Length, "the server does not hold the file made here at its name:\n" + story);
        Assert.True(_server.Current("Readme.txt") is null, "the loser's old name is still on the server:\n" + story);
    }

    /// <summary>As above for a server-held folder: every path its server move moved is moved back.</summary>
    [Fact]
    public async Task Picked_folder_name_made_here_during_the_server_move_moves_it_back_on_the_server()
    {
        using var b = new TestClient(_dir, "b", _server);
        b.Write("Docs/a.txt", "older");
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        await CommitAsync("docs/b.txt", "newer");
        await CommitAsync("docs/sub/c.txt", "newer too");
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        Assert.True(File.Exists(b.PathOf("docs/sub/c.txt")), "setup: docs/sub/c.txt not downloaded to b");
        var moves = new List<string>();
        _server.BeforeMoveFile = request =>
        {
            moves.Add(request.FromPath + " -> " + request.ToPath);
            if (moves.Count == 1)
            {
                Directory.CreateDirectory(b.PathOf("docs (Case Conflict)"));
                File.WriteAllText(b.PathOf("docs (Case Conflict)/mine.txt"), "mine");
            }

            return Task.CompletedTask;
        };

        var first = await b.SyncAsync();

        var firstNotes = string.Join(" | ", first.Notes) + "; moves: " + string.Join(", ", moves) + "; server: " + string.Join(", ", _server.LivePaths());
        Assert.Equal(0, first.Errors);
        Assert.True(first.Notes.Any(n => n.Contains("moved back on the server", StringComparison.Ordinal)), "the server move was not undone: " + firstNotes);
        Assert.True(_server.Current("docs/b.txt") is not null && _server.Current("docs/sub/c.txt") is not null, "the folder's files are not back at its name on the server: " + firstNotes);
        Assert.False(_server.LivePaths().Any(p => p.StartsWith("docs (Case Conflict)", StringComparison.Ordinal)), "something stayed under the picked name on the server: " + firstNotes);
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(0, (await b.SyncAsync()).Errors);
        }

        var here = Here(b);
        var story = "here: " + string.Join(", ", here) + "\nserver: " + string.Join(", ", _server.LivePaths());
        Assert.False(here.Any(f => f.Contains("conflicted", StringComparison.OrdinalIgnoreCase)), "a conflicted copy was made:\n" + story);
        Assert.True(here.Contains("docs (Case Conflict)/mine.txt=mine"), "the folder made here meanwhile is not kept at its name:\n" + story);
        Assert.True(here.Count(f => f.EndsWith("b.txt=newer", StringComparison.Ordinal) && !f.StartsWith("staging/", StringComparison.Ordinal)) == 1, "'docs/b.txt' is not here exactly once:\n" + story);
        Assert.True(here.Count(f => f.EndsWith("c.txt=newer too", StringComparison.Ordinal) && !f.StartsWith("staging/", StringComparison.Ordinal)) == 1, "'docs/sub/c.txt' is not here exactly once:\n" + story);
    }

    /// <summary>
    /// As above, but another device edits the moved file before it is moved back: the move back, conditional on the
    /// version the move made, is refused and the move stays; the next passes follow the server as after a crash between
    /// the two renames, and nothing is lost (the edit, the loser's content, the file made here).
    /// </summary>
    [Fact]
    public async Task Picked_name_made_here_during_the_server_move_and_edited_there_before_the_move_back_stays_moved()
    {
        using var b = new TestClient(_dir, "b", _server);
        b.Write("README.txt", "older");
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        await CommitAsync("Readme.txt", "newer");
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        Assert.True(File.Exists(b.PathOf("Readme.txt")), "setup: Readme.txt not downloaded to b");
        const string mine = "mine, made meanwhile";
        var moves = 0;
        _server.BeforeMoveFile = async _ =>
        {
            moves++;
            if (moves == 1)
            {
                File.WriteAllText(b.PathOf("Readme (Case Conflict).txt"), mine);
            }
            else if (moves == 2)
            {
                await CommitAsync("Readme (Case Conflict).txt", "edited there", _server.Current("Readme (Case Conflict).txt")!.Version);
            }
        };

        var first = await b.SyncAsync();

        var firstNotes = string.Join(" | ", first.Notes) + "; server: " + string.Join(", ", _server.LivePaths());
        Assert.Equal(0, first.Errors);
        Assert.True(first.Notes.Any(n => n.Contains("its move on the server stays ('Readme (Case Conflict).txt' is at version", StringComparison.Ordinal)), "no note that the move stays, refused for its version: " + firstNotes);
        Assert.True(_server.Current("Readme.txt") is null, "the edited file was moved back though the move back was conditional: " + firstNotes);
        var log = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            var p = await b.SyncAsync();
            log.Add($"pass {i + 2}: errors={p.Errors} pending={p.Pending} notes=[{string.Join(" | ", p.Notes)}]");
        }

        var here = Here(b);
        var story = string.Join("\n", log) + "\nhere: " + string.Join(", ", here) + "\nserver: " + string.Join(", ", _server.LivePaths());
        Assert.True(log.All(l => l.Contains("errors=0", StringComparison.Ordinal)), "a pass had errors:\n" + story);
        Assert.True(here.Count(f => f.EndsWith("=newer", StringComparison.Ordinal) && !f.StartsWith("staging/", StringComparison.Ordinal)) == 1, "'newer' is not here exactly once:\n" + story);
        Assert.True(here.Count(f => f.EndsWith("=edited there", StringComparison.Ordinal) && !f.StartsWith("staging/", StringComparison.Ordinal)) == 1, "the edit made there is not here exactly once:\n" + story);
        Assert.True(here.Count(f => f.EndsWith("=" + mine, StringComparison.Ordinal)) == 1, "the file made here is not kept exactly once:\n" + story);
    }

    /// <summary>
    /// Another device resolved the clash (the server moved Readme.txt to 'Readme (Case Conflict).txt'), and here a new
    /// 'readme (case conflict).txt' was made before the pass: the facts find the server's name free by its exact name, so
    /// the file follows the server there; the re-check must test it the same way, not in any case (that left it alone
    /// with a false "made here meanwhile", then renamed here alone to 'Readme (Case Conflict 2).txt': 'newer' twice).
    /// </summary>
    [Fact]
    public async Task Followed_name_taken_here_in_another_case_before_the_pass_is_still_followed()
    {
        using var b = new TestClient(_dir, "b", _server);
        using var a = new TestClient(_dir, "a", _server);
        b.Write("README.txt", "older");
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        await CommitAsync("Readme.txt", "newer");
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        Assert.True(File.Exists(b.PathOf("Readme.txt")), "setup: Readme.txt not downloaded to b");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.True(_server.Current("Readme (Case Conflict).txt") is not null, "setup: device a did not rename the loser on the server: " + string.Join(", ", _server.LivePaths()));
        b.Write("readme (case conflict).txt", "mine");

        var log = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            var p = await b.SyncAsync();
            log.Add($"pass {i + 1}: errors={p.Errors} pending={p.Pending} notes=[{string.Join(" | ", p.Notes)}]");
        }

        var here = Here(b);
        var story = string.Join("\n", log) + "\nhere: " + string.Join(", ", here) + "\nserver: " + string.Join(", ", _server.LivePaths());
        Assert.False(log.Any(l => l.Contains("was made here meanwhile", StringComparison.Ordinal)), "the server's name, taken here in another case before the pass, was reported made here meanwhile:\n" + story);
        Assert.True(log.All(l => l.Contains("errors=0", StringComparison.Ordinal)), "a pass had errors:\n" + story);
        Assert.True(here.Count(f => f.EndsWith("=newer", StringComparison.Ordinal) && !f.StartsWith("staging/", StringComparison.Ordinal)) == 1, "'newer' is not here exactly once:\n" + story);
        Assert.True(here.Count(f => f.EndsWith("=mine", StringComparison.Ordinal)) == 1, "the file made here is not kept exactly once:\n" + story);
        Assert.True(here.Contains("Readme (Case Conflict).txt=newer"), "'newer' did not follow the server's name:\n" + story);
        Assert.True(_server.Current("Readme.txt") is null, "'Readme.txt' came back on the server:\n" + story);
    }

    /// <summary>README.txt synced here, Readme.txt committed by another device and downloaded (both on the server: the clash's loser is Readme.txt; 'staging/Readme.txt' is the upload it was committed from), and a new folder ZZ beside synced zz (a later clash, walked after Readme.txt's facts).</summary>
    private async Task<TestClient> ServerHeldClashAsync()
    {
        var b = new TestClient(_dir, "b", _server);
        b.Write("README.txt", "older");
        b.Write("zz/a.txt", "on the server");
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        await CommitAsync("Readme.txt", "newer");
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        Assert.True(File.Exists(b.PathOf("Readme.txt")), string.Join(",", TestClient.FilesIn(b.Folder)));
        b.Write("ZZ/new.txt", "new folder here");
        return b;
    }

    private static List<string> Here(TestClient client) =>
        [.. TestClient.FilesIn(client.Folder, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(client.Folder, f) + "=" + File.ReadAllText(f)).Order(StringComparer.Ordinal)];

    private async Task CommitAsync(string path, string text, ulong baseVersion = 0)
    {
        using var web = new TestClient(_dir, "web", _server);
        web.Write("staging/" + path, text);
        await web.SyncAsync();
        var staged = _server.Current("staging/" + path)!;
        var commit = new CommitFileRequest { Path = path, Size = staged.Size, MtimeUnixMs = staged.MtimeUnixMs, Device = "web", BaseVersion = baseVersion };
        commit.Chunks.AddRange(staged.Chunks);
        await _server.CommitFileAsync(commit, CancellationToken.None);
    }
}
