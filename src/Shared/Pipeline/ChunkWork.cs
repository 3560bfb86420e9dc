namespace Dropbox.Shared.Pipeline;

/// <summary>A cut chunk on its way through the workers; holds one reference on its block until processed.</summary>
internal sealed class ChunkWork
{
    private PooledBlock? _block;

    public ChunkWork(PooledBlock block, int start, int length, long offset)
    {
        _block = block;
        Start = start;
        Length = length;
        Offset = offset;
    }

    public int Start { get; }

    public int Length { get; }

    public long Offset { get; }

    /// <summary>Completes (off the worker's thread) when the chunk is hashed and compression-decided.</summary>
    public TaskCompletionSource<ProcessedChunk> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The block, for reading; null once handed over or abandoned.</summary>
    public PooledBlock? Block => _block;

    /// <summary>Takes the block reference away from this item (the caller now owns it).</summary>
    public PooledBlock? TakeBlock() => Interlocked.Exchange(ref _block, null);

    /// <summary>Gives up an unprocessed item: releases its block and cancels its completion.</summary>
    public void Abandon()
    {
        TakeBlock()?.Release();
        Completion.TrySetCanceled();
    }

    /// <summary>Disposes the result if there is one, else abandons the item.</summary>
    public void Discard()
    {
        if (Completion.Task.IsCompletedSuccessfully)
        {
            Completion.Task.Result.Dispose();
        }
        else
        {
            Abandon();
        }
    }
}
