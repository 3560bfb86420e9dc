using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>Every folder's <c>.dropboxignore</c>, end to end through real passes on real folders.</summary>
public sealed class NestedIgnoreTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_nested_dropboxignore_applies_to_its_own_subtree_with_gitignore_semantics()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write(".dropboxignore", "*.log\n/secret.bin\ncache/\n");
        a.Write("app/.dropboxignore", "!keep.log\n/local.txt\ngen/**\n*.txt\n!readme.txt\n");
        a.Write("app/sub/.dropboxignore", "!notes.txt\n");
        a.Write("secret.bin", "root only");
        a.Write("app/secret.bin", "anchored to the root: syncs");
        a.Write("app/debug.log", "x");
        a.Write("app/keep.log", "re-included below");
        a.Write("app/local.txt", "x");
        a.Write("app/readme.txt", "re-included");
        a.Write("app/sub/notes.txt", "a deeper file overrides");
        a.Write("app/sub/other.txt", "x");
        a.Write("app/gen/x/y.bin", "x");
        a.Write("other/local.txt", "app's rules do not reach here");
        a.Write("other/debug.log", "root rule reaches here");
        a.Write("other/cache/.dropboxignore", "!*\n");
        a.Write("other/cache/blob.bin", "inside an ignored folder: never looked at");

        var result = await a.SyncAsync();

        Assert.Equal(0, result.Errors);
        foreach (var synced in new[] { ".dropboxignore", "app/.dropboxignore", "app/sub/.dropboxignore", "app/secret.bin", "app/keep.log", "app/readme.txt", "app/sub/notes.txt", "other/local.txt" })
        {
            Assert.True(_server.Current(synced) is not null, $"'{synced}' should have synced");
        }

        foreach (var ignored in new[] { "secret.bin", "app/debug.log", "app/local.txt", "app/sub/other.txt", "app/gen/x/y.bin", "other/debug.log", "other/cache/.dropboxignore", "other/cache/blob.bin" })
        {
            Assert.True(_server.Current(ignored) is null, $"'{ignored}' should have been ignored");
        }
    }

    [Fact]
    public async Task The_ignore_files_sync_and_apply_on_the_other_client_too()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("proj/.dropboxignore", "*.o\n");
        a.Write("proj/main.c", "int main;");
        await a.SyncAsync();

        var down = await b.SyncAsync();
        b.Write("proj/main.o", "object code");
        var up = await b.SyncAsync();

        Assert.Equal(2, down.FilesDownloaded);
        Assert.Equal("*.o\n", b.Read("proj/.dropboxignore"));
        Assert.Equal(0, up.FilesUploaded);
        Assert.Null(_server.Current("proj/main.o"));
    }

    [Fact]
    public async Task A_synced_file_that_becomes_ignored_stops_syncing_and_is_deleted_nowhere()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("data/big.db", "v1");
        a.Write("data/dir/inner.txt", "v1");
        await a.SyncAsync();
        await b.SyncAsync();

        a.Write("data/.dropboxignore", "*.db\ndir/\n");
        var afterIgnore = await a.SyncAsync();
        a.Write("data/big.db", "v2 local only");
        var localEdit = await a.SyncAsync();
        b.Write("data/big.db", "v3 from b");
        await b.SyncAsync();
        var remoteEdit = await a.SyncAsync();
        File.Delete(a.PathOf("data/big.db"));
        var localDelete = await a.SyncAsync();

        Assert.Equal(0, afterIgnore.FilesDeleted + afterIgnore.Errors);
        Assert.Equal(1, afterIgnore.FilesUploaded); // the ignore file itself
        Assert.Equal(0, localEdit.FilesUploaded);
        Assert.Equal(0, remoteEdit.FilesDownloaded);
        Assert.Contains(remoteEdit.Notes, n => n.Contains("data/big.db", StringComparison.Ordinal) && n.Contains("ignored", StringComparison.Ordinal));
        Assert.Equal(0, localDelete.FilesDeleted);
        Assert.Equal((ulong)"v3 from b".Length, _server.Current("data/big.db")!.Size);
        Assert.NotNull(_server.Current("data/dir/inner.txt"));
        Assert.Equal("v1", a.Read("data/dir/inner.txt"));
        Assert.Equal("v3 from b", b.Read("data/big.db"));
    }

    [Fact]
    public async Task A_remote_file_at_an_ignored_path_does_not_overwrite_the_local_one()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write(".dropboxignore", ".dropboxignore\nsettings.local\n"); // this client's rules only: the file itself does not sync
        a.Write("settings.local", "mine");
        await a.SyncAsync();
        b.Write("settings.local", "theirs");
        await b.SyncAsync();

        var result = await a.SyncAsync();

        Assert.Equal(0, result.Errors);
        Assert.Equal("mine", a.Read("settings.local"));
        Assert.Null(_server.Current(".dropboxignore"));
        Assert.Contains(result.Notes, n => n.Contains("settings.local", StringComparison.Ordinal));
        Assert.Empty(Directory.GetFiles(a.Folder, "settings*conflicted*"));
    }
}
