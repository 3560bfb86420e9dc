namespace Dropbox.StorageNode.Engine;

/// <summary>A snapshot of engine counters.</summary>
public sealed record EngineStats(long ChunkCount, long LiveBytes, long DeadBytes, int SegmentCount, long Quarantined);
