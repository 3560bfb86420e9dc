using Dropbox.Shared.Chunks;

namespace Dropbox.StorageNode.Engine;

/// <summary>What a scrub found: how many chunks it checked and which it quarantined.</summary>
public sealed record ScrubResult(long Checked, IReadOnlyList<ChunkId> Corrupt);
