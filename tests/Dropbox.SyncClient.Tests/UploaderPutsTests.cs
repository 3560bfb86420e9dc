using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// How the uploader's puts leave: each names its node by location (so the transfer can send large chunks over the
/// node's HTTP links), a hashed file planned by windows has each window's puts under way before the last window is
/// planned, and a file without a scan entry survives a node found down.
/// </summary>
public sealed class UploaderPutsTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Every_put_of_a_pass_names_its_node_by_location_not_by_its_grpc_url_alone()
    {
        // Arrange: a large new file (streamed by windows) and a group of small ones.
        using var a = new TestClient(_dir, "a", _server);
        a.Write("big.bin", TestClient.RandomBytes(3 << 20, 1));
        for (var i = 0; i < 5; i++)
        {
            a.Write($"s{i}.txt", TestClient.RandomBytes(5000, 10 + i));
        }

        // Act
        var up = await a.SyncAsync().WaitAsync(TimeSpan.FromSeconds(60));

        // Assert: by URL alone the real transfer can only use gRPC, measured ~40% slower for a 1 GiB file.
        Assert.Equal(0, up.Errors);
        Assert.Equal(6, up.FilesUploaded);
        Assert.True(_server.ChunksPut > 0);
        Assert.Equal(0, _server.PutsByUrlOnly);
    }

    [Fact]
    public async Task A_hashed_file_planned_by_windows_has_a_put_under_way_before_its_last_window_is_planned()
    {
        // Arrange: a hashed file of several windows whose one-file plan the server refuses as too large (MaxPutsPerPlan),
        // so it is planned by PlanChunks windows; every chunk is its own batch, sent as soon as it is queued.
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { PlanWindowChunks = 4, PutBatchChunks = 1 });
        var path = a.PathOf("big.bin");
        await File.WriteAllBytesAsync(path, TestClient.RandomBytes(3 << 19, 8));
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(-5));
        var fp = await new FileHasher(a.Context.Chunker).TryHashAsync(path, CancellationToken.None);
        Assert.NotNull(fp);
        var windows = (fp.Chunks.Count + 3) / 4;
        Assert.True(windows >= 3, $"the test needs at least 3 windows, got {windows}");
        _server.MaxPutsPerPlan = 2;
        var put = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _server.BeforePut = _ =>
        {
            put.TrySetResult();
            return Task.CompletedTask;
        };

        // The last window's plan waits (bounded) for a put: none comes if every window is planned before any is put.
        bool? putBeforeLastWindow = null;
        _server.BeforePlanUpload = _ =>
        {
            if (_server.PlannedWindows == windows - 1)
            {
                putBeforeLastWindow = put.Task.Wait(TimeSpan.FromSeconds(10));
            }
        };
        using var slots = new SemaphoreSlim(4);
        var uploader = new Uploader(a.Context, new SyncSummary(), slots, new FileHasher(a.Context.Chunker));

        // Act
        var result = await uploader.UploadOneAsync(new SyncAction(SyncActionKind.Upload, "big.bin") { Fingerprint = fp }, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));

        // Assert: a window's put tokens are used while the file is still being planned (they expire in 15 minutes).
        Assert.Equal(UploadOutcome.Committed, result.Outcome);
        Assert.Equal(windows, _server.PlannedWindows);
        Assert.True(putBeforeLastWindow, "every window was planned before any chunk was put");
        Assert.Equal(fp.Chunks.Select(c => c.Id), _server.Current("big.bin")!.Chunks.Select(c => c.Id.ToChunkId()));
    }

    [Fact]
    public async Task A_file_without_a_scan_entry_or_fingerprint_is_planned_again_when_its_node_is_found_down()
    {
        // Arrange: as the executor uploads a conflicted copy (no scan entry, no fingerprint); its first put finds the node down.
        using var a = new TestClient(_dir, "a", _server);
        var path = a.PathOf("copy.bin");
        await File.WriteAllBytesAsync(path, TestClient.RandomBytes(50_000, 3));
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(-5));
        var first = true;
        _server.BeforePut = _ =>
        {
            if (first)
            {
                first = false;
                throw new DropboxException(ErrorKind.Unavailable, "storage node went away");
            }

            return Task.CompletedTask;
        };
        using var slots = new SemaphoreSlim(4);
        var uploader = new Uploader(a.Context, new SyncSummary(), slots, new FileHasher(a.Context.Chunker));

        // Act
        var result = await uploader.UploadOneAsync(new SyncAction(SyncActionKind.Upload, "copy.bin"), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        // Assert
        Assert.Equal(UploadOutcome.Committed, result.Outcome);
        Assert.Equal(File.ReadAllBytes(path).Length, (long)_server.Current("copy.bin")!.Size);
    }
}
