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
