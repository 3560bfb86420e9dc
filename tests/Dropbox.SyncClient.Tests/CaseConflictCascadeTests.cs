using Dropbox.Shared.Protos.Metadata;

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
        await CommitAsync("Docs/y.txt", "from the web");
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

    /// <summary>The live file paths on the server, in ordinal order.</summary>
    private async Task<List<string>> LiveAsync() =>
        [.. (await _server.ListFilesAsync(new ListFilesRequest { Prefix = string.Empty }, CancellationToken.None)).Entries
            .Where(e => e.Kind == EntryKind.File).Select(e => e.Path).Order(StringComparer.Ordinal)];

    /// <summary>Commits <paramref name="text"/> at <paramref name="path"/> as another client would (its chunks staged by a plain upload first).</summary>
    private async Task CommitAsync(string path, string text)
    {
        using var web = new TestClient(_dir, "web", _server);
        web.Write("staging/" + path, text);
        await web.SyncAsync();
        var staged = _server.Current("staging/" + path)!;
        var commit = new CommitFileRequest { Path = path, Size = staged.Size, MtimeUnixMs = staged.MtimeUnixMs, Device = "web" };
        commit.Chunks.AddRange(staged.Chunks);
        await _server.CommitFileAsync(commit, CancellationToken.None);
        await _server.DeleteFileAsync(new DeleteFileRequest { Path = "staging/" + path, Device = "web" }, CancellationToken.None);
    }
}
