namespace Dropbox.Shared.Pipeline;

/// <summary>
/// One segment of a file cut in parallel (<see cref="SegmentedFileCutter"/>): its bytes in a pooled block, and the
/// boundaries of a cut that starts at the segment's first byte as if a chunk began there. That start is a guess: the
/// true cut joins these boundaries at the first one it lands on, and from there on follows them.
/// </summary>
internal sealed class CutSegment
{
    private const int New = 0;
    private const int Running = 1;
    private const int Finished = 2;

    private int _state;

    public CutSegment(int index, long start, long end)
    {
        Index = index;
        Start = start;
        End = end;
    }

    public int Index { get; }

    /// <summary>Input position of the block's first byte (and of the guessed chunk start).</summary>
    public long Start { get; }

    /// <summary>Chunks starting before this position (and at or after <see cref="Start"/>) are cut from this segment's block.</summary>
    public long End { get; }

    /// <summary>The block holding the input from <see cref="Start"/>; null until the segment is cut, and after it is released.</summary>
    public PooledBlock? Block { get; set; }

    /// <summary>Bytes of the block read so far.</summary>
    public int Filled { get; set; }

    /// <summary>True once a read came back short of what the input's length promised (the file shrank).</summary>
    public bool Ended { get; set; }

    /// <summary>
    /// Block offsets of the guessed cut, ascending: 0, then the end of each chunk decided from the bytes read. Complete
    /// once <see cref="Done"/> has completed.
    /// </summary>
    public List<int> Boundaries { get; } = [0];

    /// <summary>Why the segment could not be read or cut; the true cut reports it if it needs the segment.</summary>
    public Exception? Error { get; set; }

    /// <summary>Completes when the segment was cut (or failed).</summary>
    public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool IsNew => Volatile.Read(ref _state) == New;

    public bool IsFinished => Volatile.Read(ref _state) == Finished;

    /// <summary>Claims the segment for cutting; true for exactly one caller.</summary>
    public bool TryClaim() => Interlocked.CompareExchange(ref _state, Running, New) == New;

    public void Finish()
    {
        Volatile.Write(ref _state, Finished);
        Done.TrySetResult();
    }
}
