using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

public sealed class FileDownloaderTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_local_file_that_changed_since_the_plan_is_kept_as_a_conflicted_copy_not_overwritten()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("doc.txt", "remote version");
        await a.SyncAsync();
        b.Write("doc.txt", "local edit the plan never saw");
        var summary = new SyncSummary();
        using var gets = new SemaphoreSlim(2);
        var downloader = new FileDownloader(b.Context, summary, gets, p => ConflictNames.Next(p, "b", new DateOnly(2026, 1, 2), _ => false));

        var result = await downloader.DownloadAsync("doc.txt", expectedLocal: null, CancellationToken.None);

        Assert.True(result.Placed);
        Assert.Equal("doc (conflicted copy b 2026-01-02).txt", result.ConflictCopy);
        Assert.Equal("remote version", b.Read("doc.txt"));
        Assert.Equal("local edit the plan never saw", b.Read(result.ConflictCopy!));
        Assert.Equal(1, summary.Conflicts);
        Assert.Empty(Directory.GetFiles(b.Folder, IgnoreMatcher.TempPrefix + "*"));
    }

    [Fact]
    public async Task A_download_into_an_unchanged_file_replaces_it_and_records_the_version()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("doc.txt", "v2");
        await a.SyncAsync();
        b.Write("doc.txt", "v1");
        var info = new FileInfo(b.PathOf("doc.txt"));
        var expected = new LocalEntry("doc.txt", FileKind.File, info.Length, info.LastWriteTimeUtc.Ticks);
        using var gets = new SemaphoreSlim(2);
        var downloader = new FileDownloader(b.Context, new SyncSummary(), gets, _ => throw new InvalidOperationException("no conflict expected"));

        var result = await downloader.DownloadAsync("doc.txt", expected, CancellationToken.None);

        Assert.True(result.Placed);
        Assert.Null(result.ConflictCopy);
        Assert.Equal("v2", b.Read("doc.txt"));
        Assert.Equal(_server.Current("doc.txt")!.Version, b.State.GetFile("doc.txt")!.Version);
    }
}
