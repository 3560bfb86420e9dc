using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain;

/// <summary>A storage node's "chunk stored" event for one chunk.</summary>
/// <param name="Id">The chunk.</param>
/// <param name="Size">Its plain size (0: not said).</param>
/// <param name="Encoding">How it rests on the node.</param>
/// <param name="StoredSize">Its size at rest (0: as plain).</param>
/// <param name="NamespaceId">The namespace named in the put token that brought the bytes (empty: none).</param>
internal sealed record StoredChunkReport(ChunkId Id, uint Size, ChunkEncoding Encoding, uint StoredSize, string NamespaceId);
