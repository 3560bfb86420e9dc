using System.Buffers;
using System.Collections.Concurrent;
using System.Numerics;

namespace Dropbox.Shared.Memory;

/// <summary>
/// An array pool whose large arrays (over 2 MiB, or over the limit given) are pinned and advised for huge pages where
/// they span one (<see cref="HugePageArrays"/>); smaller ones come from an ordinary bounded pool. Like <see cref="ArrayPool{T}.Create(int, int)"/> it keeps at most
/// <c>maxArraysPerBucket</c> arrays of each power-of-two size, so it holds no more than was in use at once, up to
/// that bound, and it caches nothing per thread. As any array pool's, a rented array may hold old bytes.
/// </summary>
public sealed class PinnedArrayPool : ArrayPool<byte>
{
    /// <summary>Arrays above this size are the pool's own (pinned, huge-page advised); the rest the inner pool's.</summary>
    public const int SmallLimit = HugePageArrays.HugePageSize;

    // The largest power of two an int length holds: the largest bucket.
    private const int MaxLength = 1 << 30;

    private readonly ArrayPool<byte> _small;
    private readonly int _smallLimit;
    private readonly int _maxPerBucket;
    private readonly int _maxLength;
    private readonly ConcurrentQueue<byte[]>[] _buckets = Enumerable.Range(0, 31).Select(_ => new ConcurrentQueue<byte[]>()).ToArray();
    private readonly int[] _counts = new int[31];

    /// <summary>
    /// Creates a pool of arrays up to <paramref name="maxArrayLength"/> bytes; those over <paramref name="smallLimit"/>
    /// bytes (all of them with 0: for buffers whose address must not move, as direct I/O's) are pinned.
    /// </summary>
    public PinnedArrayPool(int maxArrayLength, int maxArraysPerBucket, int smallLimit = SmallLimit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxArrayLength, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxArrayLength, MaxLength);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxArraysPerBucket, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(smallLimit);
        _maxLength = maxArrayLength;
        _maxPerBucket = maxArraysPerBucket;
        _smallLimit = smallLimit;
        _small = Create(Math.Max(1, Math.Min(maxArrayLength, smallLimit)), maxArraysPerBucket);
    }

    /// <inheritdoc />
    public override byte[] Rent(int minimumLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(minimumLength);
        if (minimumLength <= _smallLimit || minimumLength == 0)
        {
            return _small.Rent(minimumLength);
        }

        if (minimumLength > _maxLength)
        {
            // As the framework's pools do past their largest bucket: a fresh array (pinned, as every array over the
            // limit is), dropped on return.
            return GC.AllocateUninitializedArray<byte>(minimumLength, pinned: true);
        }

        var bucket = BitOperations.Log2(BitOperations.RoundUpToPowerOf2((uint)minimumLength));
        if (_buckets[bucket].TryDequeue(out var array))
        {
            Interlocked.Decrement(ref _counts[bucket]);
            return array;
        }

        return HugePageArrays.AllocatePinned(1 << bucket);
    }

    /// <inheritdoc />
    public override void Return(byte[] array, bool clearArray = false)
    {
        ArgumentNullException.ThrowIfNull(array);
        if (array.Length <= _smallLimit)
        {
            _small.Return(array, clearArray);
            return;
        }

        if (!BitOperations.IsPow2(array.Length) || array.Length > _maxLength)
        {
            return;
        }

        if (clearArray)
        {
            array.AsSpan().Clear();
        }

        var bucket = BitOperations.Log2((uint)array.Length);
        if (Interlocked.Increment(ref _counts[bucket]) <= _maxPerBucket)
        {
            _buckets[bucket].Enqueue(array);
        }
        else
        {
            Interlocked.Decrement(ref _counts[bucket]);
        }
    }
}
