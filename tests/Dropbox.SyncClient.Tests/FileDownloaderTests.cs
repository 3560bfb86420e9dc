using Dropbox.Shared.Errors;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

public sealed class FileDownloaderTests : IDisposable
{
    private readonly TempFolder _dir = new();
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
        var expected = new LocalEntry("doc.txt", FileKind.File, info.Length, info.LastWriteTimeUtc.Ticks, SettlesIn: null);
        using var gets = new SemaphoreSlim(2);
        // A replacing download names its conflicted copy before it moves anything (it passes through that name).
        var summary = new SyncSummary();
        var downloader = new FileDownloader(b.Context, summary, gets, p => p + ".conflict");

        var result = await downloader.DownloadAsync("doc.txt", expected, CancellationToken.None);

        Assert.True(result.Placed);
        Assert.Null(result.ConflictCopy);
        Assert.Equal(0, summary.Conflicts);
        Assert.False(File.Exists(b.PathOf("doc.txt.conflict")));
        Assert.Equal("v2", b.Read("doc.txt"));
        Assert.Equal(_server.Current("doc.txt")!.Version, b.State.GetFile("doc.txt")!.Version);
    }

    [Fact]
    public async Task A_file_of_many_chunks_downloads_through_pooled_buffers_byte_identical()
    {
        // Arrange: ~3 MiB of random bytes cut into ~16 KiB chunks (about 200 of them, more than the window).
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var content = TestClient.RandomBytes(3 * 1024 * 1024 + 123, 7);
        a.Write("many.bin", content);
        await a.SyncAsync();
        var chunkCount = a.State.GetChunks("many.bin").Count;
        var summary = new SyncSummary();
        using var gets = new SemaphoreSlim(4);
        var downloader = new FileDownloader(b.Context, summary, gets, _ => throw new InvalidOperationException("no conflict expected"));

        // Act
        var result = await downloader.DownloadAsync("many.bin", expectedLocal: null, CancellationToken.None);

        // Assert
        Assert.True(chunkCount > 100, $"expected many chunks, got {chunkCount}");
        Assert.True(result.Placed);
        Assert.Equal(content, await File.ReadAllBytesAsync(b.PathOf("many.bin")));
        Assert.Equal(chunkCount, summary.ChunksDownloaded);
        Assert.Equal(chunkCount, b.State.GetChunks("many.bin").Count);
    }

    [Fact]
    public async Task A_file_large_enough_to_bypass_the_page_cache_downloads_byte_identical_with_its_odd_tail()
    {
        // Arrange: past the direct-write threshold, two whole staging buffers plus a tail of one block and one byte.
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var content = TestClient.RandomBytes((int)DirectFileWriter.MinFileBytes + 4097, 13);
        a.Write("large.bin", content);
        await a.SyncAsync();
        var summary = new SyncSummary();
        using var gets = new SemaphoreSlim(4);
        var downloader = new FileDownloader(b.Context, summary, gets, _ => throw new InvalidOperationException("no conflict expected"));

        // Act
        var result = await downloader.DownloadAsync("large.bin", expectedLocal: null, CancellationToken.None);

        // Assert
        Assert.True(result.Placed);
        Assert.Equal(content, await File.ReadAllBytesAsync(b.PathOf("large.bin")));
        Assert.Equal(content.Length, b.State.GetFile("large.bin")!.Size);
        Assert.Empty(Directory.GetFiles(b.Folder, IgnoreMatcher.TempPrefix + "*"));
    }

    [Fact]
    public async Task A_file_whose_plan_comes_in_compact_pages_downloads_page_by_page_byte_identical()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var content = TestClient.RandomBytes(1024 * 1024, 11);
        a.Write("paged.bin", content);
        await a.SyncAsync();
        var chunkCount = a.State.GetChunks("paged.bin").Count;
        _server.PlanPageSize = 7;
        using var gets = new SemaphoreSlim(4);
        var downloader = new FileDownloader(b.Context, new SyncSummary(), gets, _ => throw new InvalidOperationException("no conflict expected"));

        var result = await downloader.DownloadAsync("paged.bin", expectedLocal: null, CancellationToken.None);

        Assert.True(result.Placed);
        Assert.Equal(content, await File.ReadAllBytesAsync(b.PathOf("paged.bin")));
        Assert.Equal((chunkCount + 6) / 7, _server.PlanPagesServed);
        Assert.Equal(chunkCount, b.State.GetChunks("paged.bin").Count);
    }

    [Fact]
    public async Task A_plan_that_announces_more_pages_but_sends_no_chunks_fails_instead_of_looping()
    {
        var pages = 0;
        var endless = new Dropbox.Shared.Protos.Metadata.GetDownloadPlanResponse { Entry = new() { Path = "x", Version = 1 }, TotalChunks = 10, HasMore = true };
        var remote = new EndlessPlans(() => pages++, endless);

        var error = await Assert.ThrowsAsync<DropboxException>(async () =>
        {
            await foreach (var _ in Dropbox.SyncClient.Remote.DownloadPlans.ChunksAsync(remote, "x", endless, CancellationToken.None))
            {
            }
        });

        Assert.Contains("inconsistent", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, pages);
    }

    [Fact]
    public async Task A_later_plan_page_of_another_version_fails_instead_of_mixing_two_versions_in_one_file()
    {
        static Dropbox.Shared.Protos.Metadata.ChunkGet Chunk(byte fill) =>
            new() { Chunk = new Dropbox.Shared.Protos.Common.ChunkRef { Id = Google.Protobuf.ByteString.CopyFrom(Enumerable.Repeat(fill, 32).ToArray()), Size = 10 } };
        var first = new Dropbox.Shared.Protos.Metadata.GetDownloadPlanResponse { Entry = new() { Path = "x", Version = 1, Size = 20 }, TotalChunks = 2, HasMore = true, Chunks = { Chunk(1) } };
        var other = new Dropbox.Shared.Protos.Metadata.GetDownloadPlanResponse { Entry = new() { Path = "x", Version = 2, Size = 20 }, TotalChunks = 2, HasMore = false, Chunks = { Chunk(2) } };
        var remote = new EndlessPlans(() => { }, other);
        var seen = 0;

        var error = await Assert.ThrowsAsync<DropboxException>(async () =>
        {
            await foreach (var _ in Dropbox.SyncClient.Remote.DownloadPlans.ChunksAsync(remote, "x", first, CancellationToken.None))
            {
                seen++;
            }
        });

        Assert.Contains("inconsistent", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, seen);
    }

    [Fact]
    public async Task A_chunk_that_does_not_hash_to_its_id_fails_the_download_and_leaves_nothing_behind()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("doc.bin", TestClient.RandomBytes(200_000, 3));
        await a.SyncAsync();
        Assert.True(_server.CorruptAllChunks() > 0);
        using var gets = new SemaphoreSlim(4);
        var downloader = new FileDownloader(b.Context, new SyncSummary(), gets, _ => throw new InvalidOperationException("no conflict expected"));

        var error = await Assert.ThrowsAsync<DropboxException>(() => downloader.DownloadAsync("doc.bin", expectedLocal: null, CancellationToken.None));

        Assert.Contains("does not hash to its id", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(b.PathOf("doc.bin")));
        Assert.Empty(Directory.GetFiles(b.Folder, IgnoreMatcher.TempPrefix + "*"));
        Assert.Null(b.State.GetFile("doc.bin"));
    }

    [Fact]
    public async Task A_target_that_became_a_symbolic_link_during_the_transfer_is_refused_before_anything_is_moved_aside()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("doc.txt", "remote version");
        await a.SyncAsync();
        var outside = _dir.CreateSub("outside");
        File.WriteAllText(Path.Combine(outside, "target.txt"), "not the user's synced file");
        _server.BeforeGetChunks = () =>
        {
            if (!File.Exists(b.PathOf("doc.txt")))
            {
                File.CreateSymbolicLink(b.PathOf("doc.txt"), Path.Combine(outside, "target.txt"));
            }
        };
        var summary = new SyncSummary();
        using var gets = new SemaphoreSlim(2);
        var downloader = new FileDownloader(b.Context, summary, gets, p => ConflictNames.Next(p, "b", new DateOnly(2026, 1, 2), _ => false));

        var error = await Assert.ThrowsAsync<DropboxException>(() => downloader.DownloadAsync("doc.txt", expectedLocal: null, CancellationToken.None));

        Assert.Contains("symbolic link", error.Message, StringComparison.Ordinal);
        Assert.NotNull(new FileInfo(b.PathOf("doc.txt")).LinkTarget); // left where it was, not renamed to a conflicted copy
        Assert.Equal(["doc.txt"], Directory.GetFileSystemEntries(b.Folder).Select(Path.GetFileName));
        Assert.Equal(0, summary.Conflicts);
        Assert.Null(b.State.GetFile("doc.txt"));
        Assert.Equal("not the user's synced file", File.ReadAllText(Path.Combine(outside, "target.txt")));
    }
}
