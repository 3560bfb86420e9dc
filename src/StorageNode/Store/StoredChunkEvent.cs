using Dropbox.Shared.Chunks;

namespace Dropbox.StorageNode.Store;

/// <summary>"Chunk stored" as the metadata node is told it.</summary>
public sealed record StoredChunkEvent(ChunkId Id, int PlainSize, ChunkEncoding Encoding, int StoredSize, string Namespace);
