using Dropbox.Shared.Chunks;

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
}
