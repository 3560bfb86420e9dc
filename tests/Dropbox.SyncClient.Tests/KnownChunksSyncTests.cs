using Dropbox.SyncClient.State;
using Dropbox.Testing;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// End to end through the real engine and db (against a <see cref="FakeServer"/> that re-hashes every chunk it is sent):
/// a large synced file keeps its chunks' fast hashes (<see cref="FastHashList"/>) from its upload and from its download,
/// and an edit re-synced with them moves only the changed chunks, byte for byte.
/// </summary>
public sealed class KnownChunksSyncTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_byte_inserted_into_a_synced_64_MiB_file_moves_only_the_changed_chunks_and_arrives_identical()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        var content = TestClient.RandomBytes(64 * 1024 * 1024, 11);
        a.Write("big.bin", content);
        var first = await a.SyncAsync();
        await b.SyncAsync();
        Assert.Equal(0, first.Errors);
        var chunks = a.State.GetChunks("big.bin").Count;
        Assert.True(chunks > 1000, $"only {chunks} chunks");
        Assert.Equal(chunks, a.State.GetKnownChunks("big.bin")?.Count); // recorded by the upload
        Assert.Equal(chunks, b.State.GetKnownChunks("big.bin")?.Count); // and by the download

        // A byte at offset 0 on a, synced with a's list; then a byte in the middle on b, synced with b's.
        content = [0x5A, .. content];
        a.Write("big.bin", content);
        var up = await a.SyncAsync();
        var down = await b.SyncAsync();
        Assert.Equal((1, 0), (up.FilesUploaded, up.Errors));
        Assert.InRange(up.ChunksUploaded, 1, 3);
        Assert.InRange(down.ChunksDownloaded, 1, 3);
        Assert.Equal(content, File.ReadAllBytes(b.PathOf("big.bin")));

        content = [.. content[..(content.Length / 2)], 0xA5, .. content[(content.Length / 2)..]];
        b.Write("big.bin", content);
        var upB = await b.SyncAsync();
        var downA = await a.SyncAsync();
        Assert.Equal((1, 0), (upB.FilesUploaded, upB.Errors));
        Assert.InRange(upB.ChunksUploaded, 1, 3);
        Assert.InRange(downA.ChunksDownloaded, 1, 3);
        Assert.Equal(content, File.ReadAllBytes(a.PathOf("big.bin")));
        Assert.Equal(a.State.GetChunks("big.bin").Count, a.State.GetKnownChunks("big.bin")?.Count);
        Assert.Equal(b.State.GetChunks("big.bin").Count, b.State.GetKnownChunks("big.bin")?.Count);
    }

    [Fact]
    public async Task A_moved_large_file_keeps_its_chunks_fast_hashes_on_both_devices()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("big.bin", TestClient.RandomBytes(20 * 1024 * 1024, 12));
        await a.SyncAsync();
        await b.SyncAsync();
        var chunks = a.State.GetChunks("big.bin").Count;
        Assert.Equal(chunks, b.State.GetKnownChunks("big.bin")?.Count);

        // Renamed on a: a sends the move (its record moves), b applies it (a local move, its record moves).
        Directory.CreateDirectory(a.PathOf("archive"));
        File.Move(a.PathOf("big.bin"), a.PathOf("archive/big.bin"));
        var moved = await a.SyncAsync();
        var applied = await b.SyncAsync();

        Assert.Equal((1, 0, 0), (moved.FilesMoved, moved.FilesUploaded, moved.Errors));
        Assert.Equal((1, 0, 0), (applied.FilesMoved, applied.FilesDownloaded, applied.Errors));
        Assert.Equal(chunks, a.State.GetKnownChunks("archive/big.bin")?.Count);
        Assert.Equal(chunks, b.State.GetKnownChunks("archive/big.bin")?.Count);
        Assert.Null(a.State.GetKnownChunks("big.bin"));
    }
}
