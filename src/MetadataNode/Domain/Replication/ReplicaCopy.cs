using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain.Replication;

/// <summary>One copy to make: <see cref="Source"/> (a live node holding the chunk) pushes it to <see cref="Target"/>.</summary>
internal readonly record struct ReplicaCopy(ChunkId Id, long StoredBytes, StorageNodeInfo Source, StorageNodeInfo Target);
