using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.MetadataNode.Services.Mapping;

/// <summary>The cluster API's messages to and from the domain (node registry, chunk ledger), in one place.</summary>
internal static class ClusterMapping
{
    /// <summary>A node's registration as the registry takes it.</summary>
    public static NodeRegistration ToDomain(RegisterNodeRequest request) =>
        new(request.NodeId, request.GrpcUrl, request.HttpUrl, request.CapacityBytes, request.UsedBytes, request.Full);

    /// <summary>The heartbeat interval the registry asks for (at least a second).</summary>
    public static RegisterNodeResponse ToResponse(TimeSpan heartbeatInterval) =>
        new() { HeartbeatSeconds = (uint)Math.Max(1, heartbeatInterval.TotalSeconds) };
}
