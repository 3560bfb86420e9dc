namespace Dropbox.Shared.Pipeline;

/// <summary>
/// A cut chunk on its way through the workers. When cut from a stream it holds one reference on its pooled
/// block until processed; when cut from caller memory it holds none.
/// </summary>
internal sealed class ChunkWork
{
    private PooledBlock? _block;
    private int _abandoned;

    public ChunkWork(PooledBlock? block, ReadOnlyMemory<byte> data, long offset)
    {
        _block = block;
        Data = data;
        Offset = offset;
    }

    /// <summary>The chunk's plain bytes.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    public int Length => Data.Length;

    public long Offset { get; }

    /// <summary>True once the item was given up; its bytes may then be reused.</summary>
    public bool IsAbandoned => Volatile.Read(ref _abandoned) != 0;

    /// <summary>Completes (off the worker's thread) when the chunk is hashed and compression-decided.</summary>
    public TaskCompletionSource<ProcessedChunk> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Takes the block reference away from this item (the caller now owns it).</summary>
    public PooledBlock? TakeBlock() => Interlocked.Exchange(ref _block, null);

    /// <summary>Gives up an unprocessed item: releases its block and cancels its completion.</summary>
    public void Abandon()
    {
        Volatile.Write(ref _abandoned, 1);
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
