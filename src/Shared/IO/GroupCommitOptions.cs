namespace Dropbox.Shared.IO;

/// <summary>Tuning of a <see cref="GroupCommit{TItem, TBatch}"/>. Immutable; use <c>with</c> to change a copy.</summary>
public sealed record GroupCommitOptions
{
    /// <summary>Most items in one written group.</summary>
    public int MaxItems { get; init; } = 4096;

    /// <summary>Most bytes (as <see cref="GroupCommit{TItem, TBatch}"/>'s size function counts them) in one group.</summary>
    public long MaxBytes { get; init; } = long.MaxValue;

    /// <summary>Items queued before <c>EnqueueAsync</c> waits (back-pressure); 0 for an unbounded queue.</summary>
    public int QueueCapacity { get; init; }

    /// <summary>
    /// True: the barrier runs on its own loop while the next groups are written (the disk never idles while a
    /// group is gathered). False: write, barrier and completion run one after another on the writer loop.
    /// </summary>
    public bool Pipelined { get; init; }

    /// <summary>Written groups handed to the barrier loop before the writer waits (pipelined only).</summary>
    public int WrittenCapacity { get; init; } = 8;

    /// <summary>Runs the writer loop on a dedicated thread of this name (it may block) instead of the thread pool.</summary>
    public string? ThreadName { get; init; }
}
