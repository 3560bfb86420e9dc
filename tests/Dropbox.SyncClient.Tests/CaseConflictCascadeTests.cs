using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// Two folders differing only in case, both on the server: every device renames the same one, once (issue 14: each
/// device renamed the other's, the renamed names clashed again, round after round).
/// </summary>
public sealed class CaseConflictCascadeTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Two_devices_rename_the_same_one_of_two_case_clashing_folders_even_when_one_has_not_downloaded_the_newer_edit_yet()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("docs/x.txt", "first");
        await a.SyncAsync();
        await b.SyncAsync();

        // 'Docs' arrives from elsewhere (the web); then 'docs' is edited on A, so on the server 'Docs' is the older name.
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "Docs/y.txt", "from the web");
        Assert.Equal(0, (await b.SyncAsync()).Errors); // B holds both folders (its folder tells them apart)
        a.Write("docs/x.txt", "edited on a");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        var docsEdit = _server.Current("docs/x.txt")!.Version;
        Assert.True(_server.Current("Docs/y.txt")!.Version < docsEdit);

        // B's next pass sees A's edit listed, not yet downloaded: its own rows say 'docs' is the older name, the server
        // says 'Docs' is. Each device resolves the clash; then everyone catches up.
        var renames = new List<string>();
        for (var round = 0; round < 6; round++)
        {
            foreach (var (name, client) in new[] { ("b", b), ("a", a) })
            {
                var pass = await client.SyncAsync();
                Assert.Equal(0, pass.Errors);
                renames.AddRange(pass.Notes.Where(n => n.StartsWith("case conflict: '", StringComparison.Ordinal)).Select(n => $"{name}: {n}"));
            }
        }

        var paths = await LiveAsync();
        Assert.True(paths.SequenceEqual(["Docs/y.txt", "docs (Case Conflict)/x.txt"]),
            $"the server holds [{string.Join(", ", paths)}]; the renames: [{string.Join(" | ", renames)}]");
        Assert.DoesNotContain(renames, n => n.Contains("'Docs'", StringComparison.Ordinal) || n.Contains("(Case Conflict) (Case Conflict)", StringComparison.Ordinal));
        foreach (var client in new[] { a, b })
        {
            Assert.Equal("from the web", client.Read("Docs/y.txt"));
            Assert.Equal("edited on a", client.Read("docs (Case Conflict)/x.txt"));
            Assert.False(Directory.Exists(client.PathOf("docs")), $"'docs' is still on {client.Folder}");
        }

        // Quiet: a round more changes nothing anywhere.
        var cursor = (await _server.GetAccountAsync(CancellationToken.None)).Cursor;
        foreach (var client in new[] { b, a })
        {
            var pass = await client.SyncAsync();
            Assert.Equal(0, pass.Errors + pass.Pending + pass.FilesUploaded + pass.FilesDownloaded + pass.FilesMoved + pass.FilesDeleted);
        }

        Assert.Equal(cursor, (await _server.GetAccountAsync(CancellationToken.None)).Cursor);
    }

    [Fact]
    public async Task A_loser_the_server_refuses_to_rename_twice_is_renamed_here_alone_also_when_each_run_is_a_new_sync_once()
    {
        // Both folders on the server, 'docs' the newer; every server rename of it refused (as for a device whose rows are
        // stale: a path the server deleted, that no listing will show again).
        using var a = new TestClient(_dir, "a", _server);
        a.Write("Docs/y.txt", "older");
        await a.SyncAsync();
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "docs/x.txt", "newer");
        Assert.Equal(0, (await a.SyncAsync()).Errors); // downloads 'docs' beside 'Docs' (this folder tells them apart)
        _server.BeforeMoveFile = request => Task.FromException(new DropboxException(ErrorKind.Conflict, $"refused: '{request.FromPath}' is not as seen"));

        // Two runs, each a new engine (as `sync --once` is): the first waits, the second renames here alone.
        var first = await a.EngineWith(a.Context.Options).RunPassAsync(CancellationToken.None);
        Assert.Contains(first.Notes, n => n.Contains("could not be renamed to 'docs (Case Conflict)' on the server", StringComparison.Ordinal));
        Assert.True(Directory.Exists(a.PathOf("docs")));
        var second = await a.EngineWith(a.Context.Options).RunPassAsync(CancellationToken.None);

        Assert.True(Directory.Exists(a.PathOf("docs (Case Conflict)")), "without: withheld again, at every run: " + string.Join(" | ", second.Notes));
        Assert.False(Directory.Exists(a.PathOf("docs")));
        Assert.Equal("newer", a.Read("docs (Case Conflict)/x.txt"));
        Assert.Null(a.State.GetSetting(StateKeys.CaseRefusedOnServer)); // the refusal is forgotten once renamed

        // The server then takes the renamed folder's file (matched by content, or uploaded), and nothing is lost.
        _server.BeforeMoveFile = null;
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(0, (await a.EngineWith(a.Context.Options).RunPassAsync(CancellationToken.None)).Errors);
        }

        Assert.Equal("newer", a.Read("docs (Case Conflict)/x.txt"));
        Assert.Equal("older", a.Read("Docs/y.txt"));
        Assert.NotNull(_server.Current("docs (Case Conflict)/x.txt"));
    }

    [Fact]
    public async Task A_refusal_is_forgotten_once_its_clash_is_settled_another_way()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("Docs/y.txt", "older");
        await a.SyncAsync();
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "docs/x.txt", "newer");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        _server.BeforeMoveFile = request => Task.FromException(new DropboxException(ErrorKind.Conflict, $"refused: '{request.FromPath}' is not as seen"));
        var first = await a.EngineWith(a.Context.Options).RunPassAsync(CancellationToken.None);
        Assert.Contains(first.Notes, n => n.Contains("could not be renamed", StringComparison.Ordinal));
        Assert.NotNull(a.State.GetSetting(StateKeys.CaseRefusedOnServer));
        _server.BeforeMoveFile = null;

        // The user settles the clash another way: the winner 'Docs' is deleted here.
        Directory.Delete(a.PathOf("Docs"), recursive: true);
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(0, (await a.EngineWith(a.Context.Options).RunPassAsync(CancellationToken.None)).Errors);
        }

        // Without: kept, so a later clash of the same name renamed here alone at its first refusal (review of 2df5a93).
        Assert.Null(a.State.GetSetting(StateKeys.CaseRefusedOnServer));
        Assert.Equal("newer", a.Read("docs/x.txt"));
    }

    [Fact]
    public async Task A_synced_file_renamed_on_the_server_to_a_name_new_here_follows_the_rename_and_is_not_uploaded_again()
    {
        // 'X.txt' is synced on both; B writes a new 'x.txt' while A renames 'X.txt' to 'x.txt' (and edits it). On B,
        // 'X.txt' loses the clash (the server no longer holds its name), but it is unchanged here: it follows the rename.
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        await RenameToANameNewOnBAsync(a, b);

        var pass = await b.SyncAsync();
        Assert.Equal(0, pass.Errors + pass.Pending);
        await AssertRenameKeptItsNameAsync(_server, pass);
        Assert.Equal("A's X, renamed by A", b.Read("d/x.txt"));
        Assert.False(File.Exists(b.PathOf("d/X.txt")), "B keeps 'd/X.txt', which A renamed");
        Assert.Contains(TestClient.FilesIn(b.PathOf("d")), f => File.ReadAllText(f) == "B's own x");
    }

    [Fact]
    public async Task A_synced_loser_edited_here_with_its_size_and_mtime_put_back_is_not_taken_for_unchanged()
    {
        // As above, but B edited 'X.txt' in place first (same size, its mtime put back: only its ctime moved). It is not
        // as synced: it must not follow A's rename (deleted here) nor skip B's stable age, and its edit must end up once.
        var slow = new SyncOptions { StableAge = TimeSpan.FromHours(1) };
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server, slow);
        a.Write("d/X.txt", "A's X");
        await a.SyncAsync();
        await b.SyncAsync();
        var mtime = File.GetLastWriteTimeUtc(b.PathOf("d/X.txt"));
        Thread.Sleep(20);
        b.Write("d/X.txt", "B's X");
        File.SetLastWriteTimeUtc(b.PathOf("d/X.txt"), mtime);
        b.Write("d/x.txt", "B's own x");
        File.SetLastWriteTimeUtc(b.PathOf("d/x.txt"), DateTime.UtcNow.AddHours(-2));
        File.Move(a.PathOf("d/X.txt"), a.PathOf("d/x.txt"));
        File.AppendAllText(a.PathOf("d/x.txt"), ", renamed by A");
        Assert.Equal(0, (await a.SyncAsync()).Errors);

        var first = await b.SyncAsync();
        Assert.DoesNotContain(await LiveAsync(), p => _server.Current(p) is { } f && f.Size == (ulong)"B's X".Length && p.StartsWith("d/X", StringComparison.Ordinal));
        Assert.True(first.Pending > 0, $"B's edited 'X.txt' did not wait for its stable age: [{string.Join(" | ", first.Notes)}]");
        for (var i = 0; i < 3; i++)
        {
            await b.SyncAsync(new SyncOptions());
            await a.SyncAsync();
        }

        var edits = TestClient.FilesIn(b.PathOf("d")).Where(f => File.ReadAllText(f) == "B's X").ToList();
        Assert.True(edits.Count == 1, $"B's edit is in {edits.Count} file(s): [{string.Join(", ", TestClient.FilesIn(b.PathOf("d")).Select(f => Path.GetFileName(f) + "=" + File.ReadAllText(f)))}]");
        Assert.Contains(TestClient.FilesIn(a.PathOf("d")), f => File.ReadAllText(f) == "B's X");
    }

    [Fact]
    public async Task A_young_loser_edited_with_its_size_and_mtime_put_back_waits_for_its_stable_age_before_a_rename()
    {
        // 'X.txt' downloaded here beside an older 'x.txt' (a young mtime: the writer's), then edited in place with its
        // size and mtime put back: the ctime moved, so it is being written, not "as synced"; renamed now, a writer's
        // next bytes would split it.
        var slow = new SyncOptions { StableAge = TimeSpan.FromHours(1) };
        using var a = new TestClient(_dir, "a", _server, slow);
        a.Write("d/x.txt", "older");
        File.SetLastWriteTimeUtc(a.PathOf("d/x.txt"), DateTime.UtcNow.AddHours(-2));
        await a.SyncAsync();
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "d/X.txt", "newer");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal("newer", a.Read("d/X.txt"));
        var mtime = File.GetLastWriteTimeUtc(a.PathOf("d/X.txt"));
        Thread.Sleep(20);
        a.Write("d/X.txt", "NEWER");
        File.SetLastWriteTimeUtc(a.PathOf("d/X.txt"), mtime);

        var pass = await a.SyncAsync();
        Assert.False(File.Exists(a.PathOf("d/X (Case Conflict).txt")), $"renamed while young: [{string.Join(" | ", pass.Notes)}]");
        Assert.Equal("NEWER", a.Read("d/X.txt"));
        Assert.True(pass.Pending > 0);

        for (var i = 0; i < 3; i++)
        {
            await a.SyncAsync(new SyncOptions());
        }

        Assert.Contains(await LiveAsync(), p => p.StartsWith("d/X (Case Conflict)", StringComparison.Ordinal));
        Assert.Contains(TestClient.FilesIn(a.PathOf("d")), f => File.ReadAllText(f) == "NEWER");
    }

    [Fact]
    public async Task A_synced_file_edited_here_with_its_size_and_mtime_put_back_is_kept_when_the_server_renames_it_to_another_case()
    {
        // No local clash: B holds 'X.txt' alone, edited in place (only its ctime moved); A renames it to 'x.txt'. Its stamp
        // is as synced, so the case-clash step leaves it to the planner, whose rule (the ctime) has it read: an edit
        // against a remote move, kept, never moved or deleted with the rename.
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("d/X.txt", "A's X");
        await a.SyncAsync();
        await b.SyncAsync();
        ChangeTimeTests.RewriteInPlaceKeepingMtime(b, "d/X.txt", "B's X");
        File.Move(a.PathOf("d/X.txt"), a.PathOf("d/x.txt"));
        Assert.Equal(0, (await a.SyncAsync()).Errors);

        var notes = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            notes.AddRange((await b.SyncAsync()).Notes);
            notes.AddRange((await a.SyncAsync()).Notes);
        }

        string Files(TestClient c) => string.Join(", ", TestClient.FilesIn(c.PathOf("d")).Select(f => Path.GetFileName(f) + "=" + File.ReadAllText(f)));
        foreach (var client in new[] { a, b })
        {
            Assert.True(TestClient.FilesIn(client.PathOf("d")).Count(f => File.ReadAllText(f) == "B's X") == 1, $"{client.Folder}: [{Files(client)}]; notes: [{string.Join(" | ", notes)}]");
            Assert.Equal("A's X", client.Read("d/x.txt"));
        }
    }

    [Theory]
    [InlineData(null, 0)]
    [InlineData("", 0)]
    [InlineData("not json", 0)]
    [InlineData("{\"a\": 1}", 0)]
    [InlineData("[\"a\", 3, \"b/c\", \"\"]", 2)]
    public void Stored_refusals_are_read_leniently(string? json, int count) =>
        Assert.Equal(count, CaseConflicts.LoadRefusedOnServer(json).Count);

    /// <summary>
    /// 'd/X.txt' synced on both; B writes a new 'd/x.txt' while A renames 'X.txt' to 'x.txt' (and edits it) and syncs: on
    /// B's next pass 'X.txt' loses the clash only because the server no longer holds its name.
    /// </summary>
    internal static async Task RenameToANameNewOnBAsync(TestClient a, TestClient b)
    {
        a.Write("d/X.txt", "A's X");
        await a.SyncAsync();
        await b.SyncAsync();
        b.Write("d/x.txt", "B's own x");
        File.Move(a.PathOf("d/X.txt"), a.PathOf("d/x.txt"));
        File.AppendAllText(a.PathOf("d/x.txt"), ", renamed by A");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
    }

    /// <summary>After <see cref="RenameToANameNewOnBAsync"/> and B's pass: A's rename kept its name, nothing was renamed to a (Case Conflict) one.</summary>
    internal static async Task AssertRenameKeptItsNameAsync(FakeServer server, SyncSummary pass)
    {
        var paths = await LiveAsync(server);
        Assert.True(paths.Count == 2 && paths.Contains("d/x.txt") && !paths.Exists(p => p.Contains("Case Conflict", StringComparison.Ordinal)),
            $"the server holds [{string.Join(", ", paths)}]; B's notes: [{string.Join(" | ", pass.Notes)}]");
    }

    /// <summary>The live file paths on the server, in ordinal order.</summary>
    private Task<List<string>> LiveAsync() => LiveAsync(_server);

    private static async Task<List<string>> LiveAsync(FakeServer server) =>
        [.. (await server.ListFilesAsync(new ListFilesRequest { Prefix = string.Empty }, CancellationToken.None)).Entries
            .Where(e => e.Kind == EntryKind.File).Select(e => e.Path).Order(StringComparer.Ordinal)];

}
