using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain;

/// <summary>One put a plan asks for: a chunk, the node to put it on, and the put token for it there.</summary>
internal sealed class PlannedPut(ChunkId chunkId, NodeRecord node)
{
    /// <summary>The chunk to upload.</summary>
    public ChunkId ChunkId { get; } = chunkId;

    /// <summary>The storage node to put it on.</summary>
    public NodeRecord Node { get; } = node;

    /// <summary>The put token (one token may cover several puts to one node); set when the plan signs it.</summary>
    public string Token { get; set; } = string.Empty;
}
