namespace Dropbox.StorageNode.Engine;

/// <summary>A batch the writer has written (not yet fsynced), handed to the flusher.</summary>
internal sealed class WrittenBatch
{
    public WrittenBatch(List<WriteOp> ops, List<Segment> segments, Segment endSegment, long endOffset)
    {
        Ops = ops;
        Segments = segments;
        EndSegment = endSegment;
        EndOffset = endOffset;
    }

    public List<WriteOp> Ops { get; }

    /// <summary>Segments this batch wrote to (one, or two across a roll).</summary>
    public List<Segment> Segments { get; }

    public Segment EndSegment { get; }

    public long EndOffset { get; }
}
