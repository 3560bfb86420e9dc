using System.Buffers;
using System.Collections.Concurrent;
using System.Numerics;

namespace Dropbox.Shared.Memory;

/// <summary>
/// An array pool whose large arrays (over 2 MiB, or over the limit given) are pinned, and advised for huge pages where
/// they span one if asked (<see cref="HugePageArrays"/>; by default as <see cref="HugePageArrays.AdviseByDefault"/>);
/// smaller ones come from an ordinary bounded pool. Like <see cref="ArrayPool{T}.Create(int, int)"/> it keeps at most
/// <c>maxArraysPerBucket</c> arrays of each power-of-two size, so it holds no more than was in use at once, up to
/// that bound, and it caches nothing per thread. As any array pool's, a rented array may hold old bytes.
/// </summary>
public sealed class PinnedArrayPool : ArrayPool<byte>
{
    /// <summary>Arrays above this size are the pool's own (pinned, huge-page advised if asked); the rest the inner pool's.</summary>
    public const int SmallLimit = HugePageArrays.HugePageSize;

    // The largest power of two an int length holds: the largest bucket.
    private const int MaxLength = 1 << 30;

    private readonly ArrayPool<byte> _small;
    private readonly int _smallLimit;
    private readonly int _maxPerBucket;
    private readonly int _maxLength;
    private readonly bool _adviseHugePages;
    private readonly ConcurrentQueue<byte[]>[] _buckets = Enumerable.Range(0, 31).Select(_ => new ConcurrentQueue<byte[]>()).ToArray();
    private readonly int[] _counts = new int[31];

    /// <summary>
    /// Creates a pool of arrays up to <paramref name="maxArrayLength"/> bytes; those over <paramref name="smallLimit"/>
    /// bytes (all of them with 0: for buffers whose address must not move, as direct I/O's) are pinned, and advised for
    /// huge pages if <paramref name="adviseHugePages"/> (default: <see cref="HugePageArrays.AdviseByDefault"/>).
    /// </summary>
    public PinnedArrayPool(int maxArrayLength, int maxArraysPerBucket, int smallLimit = SmallLimit, bool? adviseHugePages = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxArrayLength, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxArrayLength, MaxLength);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxArraysPerBucket, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(smallLimit);
        _maxLength = maxArrayLength;
        _maxPerBucket = maxArraysPerBucket;
        _smallLimit = smallLimit;
        _adviseHugePages = adviseHugePages ?? HugePageArrays.AdviseByDefault;
        _small = Create(Math.Max(1, Math.Min(maxArrayLength, smallLimit)), maxArraysPerBucket);
    }

    /// <summary>Whether this pool's own arrays are advised for huge pages.</summary>
    public bool AdvisesHugePages => _adviseHugePages;

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

        return HugePageArrays.AllocatePinned(1 << bucket, _adviseHugePages);
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
