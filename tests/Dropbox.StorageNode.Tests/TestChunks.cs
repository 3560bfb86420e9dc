using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine;

namespace Dropbox.StorageNode.Tests;

/// <summary>Deterministic random chunks for tests.</summary>
public static class TestChunks
{
    public static (ChunkId Id, byte[] Bytes) Random(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return (ChunkId.Compute(bytes), bytes);
    }

    public static (ChunkId Id, byte[] Bytes) Compressible(int size, int seed)
    {
        var bytes = new byte[size];
        var rng = new Random(seed);
        for (var i = 0; i < size; i++)
        {
            bytes[i] = (byte)('a' + (rng.Next(4)));
        }

        return (ChunkId.Compute(bytes), bytes);
    }

    /// <summary>The stored bytes of <paramref name="id"/> read back from <paramref name="engine"/> (asserting it is there).</summary>
    public static async Task<byte[]> ReadAllAsync(ChunkEngine engine, ChunkId id)
    {
        using var chunk = await engine.ReadAsync(id, CancellationToken.None);
        Assert.NotNull(chunk);
        return chunk.Data.ToArray();
    }

    /// <summary>Options of a small engine in <paramref name="directory"/> for tests: a tiny index, 1 MiB segments, no timed checkpoints.</summary>
    public static EngineOptions SmallEngine(string directory) => new()
    {
        Directory = directory,
        CheckpointInterval = TimeSpan.Zero,
        IndexSizeBytes = 1L << 16,
        IndexMemoryBytes = 1L << 20,
        IndexPageSizeBytes = 1L << 16,
        SegmentMaxBytes = 1L << 20,
    };
}
