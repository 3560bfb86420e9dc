using Dropbox.Shared.Errors;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>A put refused as full makes the uploader plan again, asking the metadata node to place elsewhere.</summary>
public sealed class UploaderFullNodeTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_put_refused_as_full_is_planned_again_avoiding_that_node_and_lands_on_another()
    {
        // Arrange: a hashed file; node n1 refuses every put as full, and the metadata node does not know it yet.
        using var a = new TestClient(_dir, "a", _server);
        var path = Path.Combine(a.Context.Folder, "f.bin");
        await File.WriteAllBytesAsync(path, TestClient.RandomBytes(50_000, 7));
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(-5));
        var fp = await new FileHasher(a.Context.Chunker).TryHashAsync(path, CancellationToken.None);
        _server.FirstNodeFull = true;
        using var slots = new SemaphoreSlim(4);
        var uploader = new Uploader(a.Context, new SyncSummary(), slots, new FileHasher(a.Context.Chunker));

        // Act
        var outcome = (await uploader.UploadOneAsync(Hashed("f.bin", fp!), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30))).Outcome;

        // Assert: committed; the second plan asked to avoid n1.
        Assert.Equal(UploadOutcome.Committed, outcome);
        Assert.Equal(["", "n1"], _server.AvoidNodesSeen);
    }

    [Fact]
    public async Task A_new_file_uploaded_as_it_is_read_whose_put_is_refused_as_full_is_planned_again_avoiding_that_node_in_the_same_pass()
    {
        // Arrange: a new file over the small-file size, so it is uploaded while it is read (PlanChunks windows); node n1
        // refuses every put as full, and the metadata node does not know it yet (its windows keep naming n1).
        using var a = new TestClient(_dir, "a", _server);
        a.Write("big.bin", TestClient.RandomBytes(3 << 20, 11));
        File.SetLastWriteTimeUtc(a.PathOf("big.bin"), DateTime.UtcNow.AddMinutes(-5));
        _server.FirstNodeFull = true;

        // Act
        var summary = await a.SyncAsync().WaitAsync(TimeSpan.FromSeconds(60));

        // Assert: committed in this pass, after a window's put was refused, by a plan that avoided n1.
        Assert.True(summary.Errors == 0, string.Join("\n", summary.ErrorMessages));
        Assert.Equal(1, summary.FilesUploaded);
        Assert.True(_server.PlannedWindows >= 1, $"{_server.PlannedWindows} windows");
        Assert.Equal(["n1"], _server.AvoidNodesSeen);
    }

    [Fact]
    public async Task A_new_file_rewritten_in_place_while_read_keeping_size_and_mtime_is_not_committed_after_a_full_refusal()
    {
        // Arrange: a new file uploaded as it is read; node n1 refuses every put as full. At the first put, the file is
        // rewritten with other bytes of the same length and its mtime put back: only its ctime tells.
        using var a = new TestClient(_dir, "a", _server);
        var path = a.PathOf("big.bin");
        a.Write("big.bin", TestClient.RandomBytes(3 << 20, 11));
        var mtime = DateTime.UtcNow.AddMinutes(-5);
        File.SetLastWriteTimeUtc(path, mtime);
        _server.FirstNodeFull = true;
        var rewritten = false;
        _server.BeforePut = async _ =>
        {
            if (!rewritten)
            {
                rewritten = true;
                await File.WriteAllBytesAsync(path, TestClient.RandomBytes(3 << 20, 12));
                File.SetLastWriteTimeUtc(path, mtime);
            }
        };

        // Act
        var summary = await a.SyncAsync().WaitAsync(TimeSpan.FromSeconds(60));

        // Assert: the refusal's fallback saw the file was not the one the read began on and committed nothing.
        Assert.True(rewritten);
        Assert.Equal(0, summary.FilesUploaded);
    }

    [Fact]
    public async Task A_hashed_file_whose_one_file_plan_is_refused_for_the_put_limit_is_planned_by_windows_and_committed()
    {
        // Arrange: a hashed file of about 64 chunks; the server refuses one-file plans of more than 10 puts.
        using var a = new TestClient(_dir, "a", _server);
        var path = Path.Combine(a.Context.Folder, "big.bin");
        await File.WriteAllBytesAsync(path, TestClient.RandomBytes(1 << 20, 8));
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(-5));
        var fp = await new FileHasher(a.Context.Chunker).TryHashAsync(path, CancellationToken.None);
        Assert.True(fp!.Chunks.Count > a.Context.Options.PlanWindowChunks, $"{fp.Chunks.Count} chunks");
        _server.MaxPutsPerPlan = 10;
        using var slots = new SemaphoreSlim(4);
        var uploader = new Uploader(a.Context, new SyncSummary(), slots, new FileHasher(a.Context.Chunker));

        // Act
        var outcome = (await uploader.UploadOneAsync(Hashed("big.bin", fp), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30))).Outcome;

        // Assert: committed after PlanChunks windows (more than one), every distinct chunk put once.
        Assert.Equal(UploadOutcome.Committed, outcome);
        Assert.True(_server.PlannedWindows >= 2, $"{_server.PlannedWindows} windows");
        Assert.Equal(fp.Chunks.Select(c => c.Id).Distinct().Count(), _server.ChunksPut);
    }

    [Fact]
    public async Task A_put_failing_for_another_reason_is_not_planned_again_when_another_file_found_a_node_full_meanwhile()
    {
        // Arrange: two hashed files on one uploader. While a.bin's put is under way, b.bin's put is refused as full by
        // n1 (b.bin plans again and lands on n2); then a.bin's own put fails for a reason of its own (not full, not down).
        using var a = new TestClient(_dir, "a", _server);
        var fps = new Dictionary<string, FileFingerprint>();
        foreach (var (name, seed) in new[] { ("a.bin", 1), ("b.bin", 2) })
        {
            var path = Path.Combine(a.Context.Folder, name);
            await File.WriteAllBytesAsync(path, TestClient.RandomBytes(50_000, seed));
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(-5));
            fps[name] = (await new FileHasher(a.Context.Chunker).TryHashAsync(path, CancellationToken.None))!;
        }

        using var slots = new SemaphoreSlim(4);
        var uploader = new Uploader(a.Context, new SyncSummary(), slots, new FileHasher(a.Context.Chunker));
        var first = true;
        _server.BeforePut = async _ =>
        {
            if (first)
            {
                first = false;
                _server.FirstNodeFull = true;
                Assert.Equal(UploadOutcome.Committed, (await uploader.UploadOneAsync(Hashed("b.bin", fps["b.bin"]), CancellationToken.None)).Outcome);
                _server.FirstNodeFull = false;
                throw new DropboxException(ErrorKind.Internal, "the node lost the batch"); // a.bin's own put fails, not as full or down
            }
        };

        // Act
        var failed = await Assert.ThrowsAsync<DropboxException>(() => uploader.UploadOneAsync(Hashed("a.bin", fps["a.bin"]), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));

        // Assert: a.bin's own error surfaces after one plan (b.bin's full node is no reason to plan a.bin again).
        Assert.Equal(ErrorKind.Internal, failed.Kind);
        Assert.Equal(["", "", "n1"], _server.AvoidNodesSeen); // a.bin, b.bin, b.bin again
    }

    private static SyncAction Hashed(string path, FileFingerprint fp) => new(SyncActionKind.Upload, path) { Fingerprint = fp };
}
