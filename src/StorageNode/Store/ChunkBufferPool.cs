using System.Buffers;
using System.Collections.Concurrent;
using System.Numerics;

namespace Dropbox.StorageNode.Store;

/// <summary>
/// Buffers for whole chunks. Big ones come from the pinned object heap and are kept for reuse: a chunk buffer
/// lives across a group commit, and an ordinary array that long-lived would be copied by every GC that promotes
/// it. Small ones come from the shared pool.
/// </summary>
internal static class ChunkBufferPool
{
    private const int SmallLimit = 64 * 1024;
    private const long MaxKeptBytesPerBucket = 128L * 1024 * 1024;
    private static readonly ConcurrentBag<byte[]>[] Buckets = Enumerable.Range(0, 31).Select(_ => new ConcurrentBag<byte[]>()).ToArray();

    /// <summary>A buffer of at least <paramref name="size"/> bytes.</summary>
    public static byte[] Rent(int size)
    {
        if (size <= SmallLimit)
        {
            return ArrayPool<byte>.Shared.Rent(Math.Max(1, size));
        }

        var bucket = BitOperations.Log2(BitOperations.RoundUpToPowerOf2((uint)size));
        return Buckets[bucket].TryTake(out var buffer) ? buffer : GC.AllocateUninitializedArray<byte>(1 << bucket, pinned: true);
    }

    /// <summary>Gives a buffer from <see cref="Rent"/> back.</summary>
    public static void Return(byte[] buffer)
    {
        if (buffer.Length <= SmallLimit)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return;
        }

        if (BitOperations.IsPow2(buffer.Length))
        {
            var bag = Buckets[BitOperations.Log2((uint)buffer.Length)];
            if ((long)bag.Count * buffer.Length < MaxKeptBytesPerBucket)
            {
                bag.Add(buffer);
            }
        }
    }
}
