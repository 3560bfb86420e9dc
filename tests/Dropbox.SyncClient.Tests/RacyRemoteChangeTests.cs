using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A remote delete or move of a file this client read "racily" (too soon after its last write for size and mtime to
/// prove it unchanged later) is kept back, not dropped: the cursor stays, and a read past the stable age applies it.
/// </summary>
public sealed class RacyRemoteChangeTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_remote_delete_of_a_file_read_racily_here_is_applied_once_the_file_has_settled()
    {
        // Arrange: a uploads a file its watcher saw, read racily; another device takes it and deletes it (a drop folder).
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = SyncOptions.DefaultStableAge });
        using var b = new TestClient(_dir, "b", _server);
        var watched = new WatchedChanges(TimeProvider.System);
        var engine = new SyncEngine(a.Context.With(watched));
        var path = a.PathOf("inbox.txt");
        await File.WriteAllBytesAsync(path, TestClient.RandomBytes(5000, 1));
        watched.Saw("inbox.txt");
        await Task.Delay(a.Context.Options.QuietPeriod + TimeSpan.FromMilliseconds(50));
        var first = await engine.RunPassAsync(CancellationToken.None);
        Assert.Equal(1, first.FilesUploaded);
        Assert.True(first.Racy > 0);
        await b.SyncAsync();
        b.Write("stays.txt", "so the folder is not emptied (an empty folder deletes nothing unconfirmed)");
        File.Delete(b.PathOf("inbox.txt"));
        await b.SyncAsync();
        Assert.Null(_server.Current("inbox.txt"));

        // Act: a pass while the file is still young (kept), then the re-check passes once it has settled.
        await engine.RunPassAsync(CancellationToken.None);
        await Task.Delay(SyncOptions.DefaultStableAge + TimeSpan.FromMilliseconds(500));
        await engine.RunPassAsync(CancellationToken.None);
        await engine.RunPassAsync(CancellationToken.None);

        // Assert: the delete reached this device too (the file is in the trash, not left behind).
        Assert.False(File.Exists(path), "the remote delete was dropped: the file stayed here while the server has none");
        Assert.Null(_server.Current("inbox.txt"));
    }

    [Fact]
    public async Task A_remote_move_of_a_file_read_racily_here_leaves_no_copy_at_the_old_path()
    {
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = SyncOptions.DefaultStableAge });
        using var b = new TestClient(_dir, "b", _server);
        var watched = new WatchedChanges(TimeProvider.System);
        var engine = new SyncEngine(a.Context.With(watched));
        await File.WriteAllBytesAsync(a.PathOf("in.txt"), TestClient.RandomBytes(5000, 1));
        watched.Saw("in.txt");
        await Task.Delay(a.Context.Options.QuietPeriod + TimeSpan.FromMilliseconds(50));
        Assert.Equal(1, (await engine.RunPassAsync(CancellationToken.None)).FilesUploaded);
        await b.SyncAsync();
        File.Move(b.PathOf("in.txt"), b.PathOf("done.txt"));
        await b.SyncAsync();

        await engine.RunPassAsync(CancellationToken.None);
        await Task.Delay(SyncOptions.DefaultStableAge + TimeSpan.FromMilliseconds(500));
        await engine.RunPassAsync(CancellationToken.None);
        await engine.RunPassAsync(CancellationToken.None);

        Assert.True(File.Exists(a.PathOf("done.txt")));
        Assert.False(File.Exists(a.PathOf("in.txt")), "in.txt stayed here though the server moved it away");
        Assert.Null(_server.Current("in.txt"));
    }
}
