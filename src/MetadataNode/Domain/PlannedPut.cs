using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain;

/// <summary>One put a plan asks for: a chunk, the node to put it on, and the put token for it there.</summary>
/// <param name="ChunkId">The chunk to upload.</param>
/// <param name="Node">The storage node to put it on.</param>
/// <param name="Token">The put token (one token may cover several puts to one node).</param>
internal sealed record PlannedPut(ChunkId ChunkId, NodeAddress Node, string Token);
