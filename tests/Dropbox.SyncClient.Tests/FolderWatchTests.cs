using System.Threading.Channels;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>The daemon's watch on the sync folder (<see cref="FolderWatch"/>), its checks driven one by one.</summary>
public sealed class FolderWatchTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task An_absence_right_after_the_folder_came_back_wakes_the_daemon_again_though_no_check_saw_it_back()
    {
        // Arrange: a watched folder that vanishes (the check wakes the daemon), and the pass that took that waits for it.
        using var a = new TestClient(_dir, "a", _server);
        var triggers = Channel.CreateUnbounded<string>();
        using var watch = new FolderWatch(a.Context, new WatchedChanges(TimeProvider.System), triggers.Writer, () => new IgnoreTree(IgnoreMatcher.Create([])));
        var interval = TimeSpan.FromMilliseconds(10);
        Assert.True(await watch.EnsureWatchedAsync(interval, CancellationToken.None));
        var away = a.Folder + ".away";
        Directory.Move(a.Folder, away);
        watch.CheckFolder();
        Assert.True(triggers.Reader.TryRead(out var first));
        Assert.Equal("the sync folder vanished", first);
        var waiting = watch.EnsureWatchedAsync(interval, CancellationToken.None);

        // Act: it comes back and the waiting pass watches it again; it vanishes again before any check looked.
        Directory.Move(away, a.Folder);
        Assert.True(await waiting.WaitAsync(TimeSpan.FromSeconds(30)));
        Directory.Move(a.Folder, away);
        watch.CheckFolder();

        // Assert: the second absence wakes the daemon too (it waited for the next rescan, minutes away).
        Assert.True(triggers.Reader.TryRead(out var second), "the second absence did not wake the daemon");
        Assert.Equal("the sync folder vanished", second);
        Directory.Move(away, a.Folder);
    }
}
