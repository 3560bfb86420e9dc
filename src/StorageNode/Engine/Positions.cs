namespace Dropbox.StorageNode.Engine;

/// <summary>What the positions file names: an index checkpoint, and the segment position every record before which it holds.</summary>
internal readonly record struct Positions(Guid Token, int Segment, long Offset);
