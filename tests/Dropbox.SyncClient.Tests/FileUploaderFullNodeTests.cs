using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>A put refused as full makes the uploader plan again, asking the metadata node to place elsewhere.</summary>
public sealed class FileUploaderFullNodeTests : IDisposable
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
        var uploader = new FileUploader(a.Context, new SyncSummary(), slots);

        // Act
        var outcome = await uploader.UploadAsync("f.bin", 0, fp!, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        // Assert: committed; the second plan asked to avoid n1.
        Assert.Equal(UploadOutcome.Committed, outcome);
        Assert.Equal(["", "n1"], _server.AvoidNodesSeen);
    }
}
