using Dropbox.Shared.Memory;

namespace Dropbox.Shared.Pipeline;

/// <summary>
/// A pooled read buffer shared by the chunks cut from it; it goes back to the pool when the last one lets go.
/// Sharing saves copying every chunk out of the read buffer.
/// </summary>
internal sealed class PooledBlock
{
    private int _references = 1;

    public PooledBlock(int size)
    {
        Array = PipelineBuffers.Pool.Rent(size);
    }

    public byte[] Array { get; }

    /// <summary>
    /// Faults in the pages that a read is about to fill (<see cref="HugePageArrays.Populate"/>), where the array is one of
    /// the pool's own: pinned, and over <see cref="PinnedArrayPool.SmallLimit"/> (the smaller ones, from an ordinary
    /// pool, may move and are a few pages at most).
    /// </summary>
    public void Populate(int offset, int length)
    {
        if (Array.Length > PinnedArrayPool.SmallLimit)
        {
            HugePageArrays.Populate(Array, offset, length);
        }
    }

    public void AddReference() => Interlocked.Increment(ref _references);

    public void Release()
    {
        var left = Interlocked.Decrement(ref _references);
        if (left == 0)
        {
            PipelineBuffers.Pool.Return(Array);
        }
        else if (left < 0)
        {
            throw new InvalidOperationException("A pooled block was released more often than referenced.");
        }
    }
}
