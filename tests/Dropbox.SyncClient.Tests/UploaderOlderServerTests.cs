using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>Uploads to a metadata node without PlanChunks (an older server): files are planned whole, by PlanUpload.</summary>
public sealed class UploaderOlderServerTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new() { WithoutPlanChunks = true };

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_file_of_more_chunks_than_one_batched_plan_carries_uploads_whole()
    {
        using var a = new TestClient(_dir, "a", _server, chunker: _ => new FixedSizeChunkSource(4096));
        var bytes = TestClient.RandomBytes((RemoteBounds.MaxChunksPerPlanCall + 104) * 4096, 7);
        a.Write("big.bin", bytes);
        File.SetLastWriteTimeUtc(a.PathOf("big.bin"), DateTime.UtcNow.AddMinutes(-5));

        var up = await a.SyncAsync().WaitAsync(TimeSpan.FromSeconds(120));

        Assert.True(up.Errors == 0, string.Join(" | ", up.ErrorMessages));
        Assert.Equal(1, up.FilesUploaded);
        using var b = new TestClient(_dir, "b", _server, chunker: _ => new FixedSizeChunkSource(4096));
        var down = await b.SyncAsync().WaitAsync(TimeSpan.FromSeconds(120));
        Assert.True(down.Errors == 0, string.Join(" | ", down.ErrorMessages));
        Assert.Equal(bytes, File.ReadAllBytes(b.PathOf("big.bin")));
    }

    [Fact]
    public async Task A_group_too_large_for_one_answer_is_planned_file_by_file_and_only_the_file_too_large_for_the_server_fails()
    {
        // Small files are hashed and planned together; the group's plan is refused as too large, so the files go to
        // windows, whose first PlanChunks finds the server without it: each file is then planned alone.
        _server.MaxPutsPerPlan = 4;
        using var a = new TestClient(_dir, "a", _server, chunker: _ => new FixedSizeChunkSource(4096));
        var files = Enumerable.Range(0, 3).ToDictionary(i => $"f{i}.bin", i => TestClient.RandomBytes(3 * 4096, 10 + i));
        var large = TestClient.RandomBytes(6 * 4096, 20);
        foreach (var (name, bytes) in files.Append(new("large.bin", large)))
        {
            a.Write(name, bytes);
            File.SetLastWriteTimeUtc(a.PathOf(name), DateTime.UtcNow.AddMinutes(-5));
        }

        var up = await a.SyncAsync().WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(3, up.FilesUploaded);
        using var b = new TestClient(_dir, "b", _server, chunker: _ => new FixedSizeChunkSource(4096));
        await b.SyncAsync().WaitAsync(TimeSpan.FromSeconds(60));
        foreach (var (name, bytes) in files)
        {
            Assert.Equal(bytes, File.ReadAllBytes(b.PathOf(name)));
        }

        Assert.Null(_server.Current("large.bin"));
        var error = Assert.Single(up.ErrorMessages);
        Assert.Contains("large.bin", error);
        Assert.Contains("MaxPutsPerPlan", error);
    }
}
