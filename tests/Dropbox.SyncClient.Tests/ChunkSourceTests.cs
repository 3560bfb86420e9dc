using Dropbox.Shared.Chunking;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Compression;
using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Tests;

public sealed class ChunkSourceTests
{
    public static TheoryData<int> Sizes => [0, 1, 4095, 100_000, 1_000_003];

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task The_streaming_chunker_and_the_shared_pipeline_cut_identically_and_round_trip(int size)
    {
        var data = new byte[size];
        new Random(size).NextBytes(data);
        Array.Fill(data, (byte)7, 0, size / 3); // a compressible stretch
        var chunker = new FastCdcChunker(TestClient.SmallChunks);

        var streamed = await CollectAsync(new CdcChunkSource(chunker), data);
        var piped = await CollectAsync(new PipelineChunkSource(chunker, compress: true, parallelism: 2), data);

        Assert.Equal(streamed.Select(c => (c.Ref.Id, c.Ref.Size, c.Offset)), piped.Select(c => (c.Ref.Id, c.Ref.Size, c.Offset)));
        var rebuilt = piped.SelectMany(c => Lz4ChunkCodec.Decode(c.Ref.Encoding, c.Stored, c.Ref.Size)).ToArray();
        Assert.Equal(data, rebuilt);
        Assert.All(piped, c => Assert.Equal(c.Ref.Id, ChunkId.Compute(c.Plain)));
    }

    [Fact]
    public async Task Hashing_a_file_twice_without_changes_gives_the_same_fingerprint()
    {
        using var dir = new TempFolder();
        var path = Path.Combine(dir.Path, "f.bin");
        await File.WriteAllBytesAsync(path, TestClient.RandomBytes(300_000, 9));
        var hasher = new FileHasher(new PipelineChunkSource(new FastCdcChunker(TestClient.SmallChunks)));

        var first = await hasher.TryHashAsync(path, CancellationToken.None);
        var second = await hasher.TryHashAsync(path, CancellationToken.None);

        Assert.NotNull(first);
        Assert.Equal(first.ContentHash, second!.ContentHash);
        Assert.Equal(300_000, first.Chunks.Sum(c => c.Size));
        Assert.Equal(2, hasher.FilesRead);
    }

    [Fact]
    public async Task A_file_large_enough_to_be_cut_in_parallel_segments_hashes_as_the_streaming_chunker_cuts_it()
    {
        // 72 MiB with the default limits: over the pipeline's threshold, so the client's file read is cut in segments.
        using var dir = new TempFolder();
        var path = Path.Combine(dir.Path, "big.bin");
        var data = TestClient.RandomBytes(72 * 1024 * 1024, 10);
        data.AsSpan(20 * 1024 * 1024, 9 * 1024 * 1024).Clear(); // no cut points for a while: forced maximum-size cuts
        await File.WriteAllBytesAsync(path, data);
        var hasher = new FileHasher(new PipelineChunkSource(new FastCdcChunker(), compress: false, parallelism: 2));

        var fingerprint = await hasher.TryHashAsync(path, CancellationToken.None);
        var streamed = await CollectAsync(new CdcChunkSource(new FastCdcChunker()), data);

        Assert.NotNull(fingerprint);
        Assert.Equal(streamed.Select(c => (c.Ref.Id, c.Ref.Size)), fingerprint.Chunks.Select(c => (c.Id, c.Size)));
    }

    private static async Task<List<(ChunkRef Ref, long Offset, byte[] Plain, byte[] Stored)>> CollectAsync(IChunkSource source, byte[] data)
    {
        var result = new List<(ChunkRef, long, byte[], byte[])>();
        await foreach (var c in source.ReadAsync(new MemoryStream(data), keepData: true, CancellationToken.None))
        {
            using (c)
            {
                result.Add((c.Ref, c.Offset, c.Plain.ToArray(), c.Stored.ToArray()));
            }
        }

        return result;
    }
}
