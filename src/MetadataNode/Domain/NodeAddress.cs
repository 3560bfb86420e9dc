namespace Dropbox.MetadataNode.Domain;

/// <summary>Where a client reaches a storage node, as a plan names it: its id, gRPC and HTTP URLs (not its stored record's counters and flags).</summary>
/// <param name="NodeId">The node's id.</param>
/// <param name="GrpcUrl">Its gRPC endpoint.</param>
/// <param name="HttpUrl">Its presigned-link HTTP endpoint (empty when it serves none).</param>
internal sealed record NodeAddress(string NodeId, string GrpcUrl, string HttpUrl)
{
    /// <summary>The address of a registered node.</summary>
    public static NodeAddress Of(StorageNodeInfo node) => new(node.NodeId, node.GrpcUrl, node.HttpUrl);
}
