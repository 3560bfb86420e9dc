using Dropbox.Testing;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The fast hashes a large download records (taken from each chunk's verified bytes as it arrives, several chunks at
/// once, not in the in-order write loop) are those of the file's own chunks, each with its own id: a later read of the
/// file takes a chunk's id by its fast hash, so a hash filed under another chunk would give that chunk a wrong id.
/// </summary>
public sealed class DownloadFastHashTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Every_chunk_of_a_downloaded_large_file_is_known_by_the_fast_hash_of_its_own_bytes_under_its_own_id()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server, new Sync.SyncOptions { Parallelism = 8 });
        a.Write("big.bin", TestClient.RandomBytes(24 * 1024 * 1024, 21));
        Assert.Equal(0, (await a.SyncAsync()).Errors);

        var down = await b.SyncAsync();

        Assert.Equal((1, 0), (down.FilesDownloaded, down.Errors));
        var chunks = b.State.GetChunks("big.bin");
        var known = b.State.GetKnownChunks("big.bin");
        Assert.NotNull(known);
        Assert.Equal(chunks.Count, known.Count);
        var bytes = File.ReadAllBytes(b.PathOf("big.bin"));
        var offset = 0;
        foreach (var chunk in chunks)
        {
            var tag = b.State.FastHash.Compute(bytes.AsSpan(offset, chunk.Size));
            Assert.True(known.TryGetId(chunk.Size, tag, out var id), $"no fast hash for the chunk at {offset}");
            Assert.Equal(chunk.Id, id);
            offset += chunk.Size;
        }

        Assert.Equal(bytes.Length, offset);
    }
}
