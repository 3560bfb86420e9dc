namespace Dropbox.StorageNode.Engine;

/// <summary>The record format of one segment file (a segment never mixes them).</summary>
internal enum SegmentFormat : byte
{
    /// <summary>Format 1 (<see cref="LegacySegmentRecord"/>): read in place, never written any more.</summary>
    Legacy = 1,

    /// <summary>Format 2 (<see cref="SegmentRecord"/>): records on the durable log's frame; every new segment.</summary>
    Framed = 2,
}
