using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.Shared.Protos.Metadata;
using Grpc.Core;

namespace Dropbox.MetadataNode.Services;

/// <summary>
/// The cluster API (dropbox.metadata.v1.Cluster) for storage nodes; every call needs a system token. Messages are
/// mapped to and from the domain by <see cref="ClusterMapping"/>.
/// </summary>
internal sealed class ClusterService : Dropbox.Shared.Protos.Metadata.Cluster.ClusterBase
{
    private static readonly HeartbeatResponse HeartbeatOk = new();
    private static readonly ReportChunksStoredResponse ReportOk = new();
    private readonly MetadataStore _store;
    private readonly CallAuthenticator _auth;

    public ClusterService(MetadataStore store, CallAuthenticator auth)
    {
        _store = store;
        _auth = auth;
    }

    public override Task<RegisterNodeResponse> RegisterNode(RegisterNodeRequest request, ServerCallContext context)
    {
        _auth.System(context);
        var interval = _store.Nodes.Register(ClusterMapping.ToDomain(request));
        return Task.FromResult(ClusterMapping.ToResponse(interval));
    }

    public override Task<HeartbeatResponse> Heartbeat(HeartbeatRequest request, ServerCallContext context)
    {
        _auth.System(context);
        _store.Nodes.Heartbeat(request.NodeId, request.UsedBytes, request.ChunkCount, request.Full);
        return Task.FromResult(HeartbeatOk);
    }

    public override Task<ReportChunksStoredResponse> ReportChunksStored(ReportChunksStoredRequest request, ServerCallContext context)
    {
        _auth.System(context);
        _store.ReportChunksStored(request);
        return Task.FromResult(ReportOk);
    }

    public override Task<ReportChunksCorruptResponse> ReportChunksCorrupt(ReportChunksCorruptRequest request, ServerCallContext context)
    {
        _auth.NodeReport(context, request.NodeId);
        return Task.FromResult(_store.ReportChunksCorrupt(request));
    }

    public override Task<GetDownloadPlanResponse> ResolveLink(ResolveLinkRequest request, ServerCallContext context)
    {
        _auth.System(context);
        return ResolveLinkAsync(request, context.CancellationToken);
    }

    private async Task<GetDownloadPlanResponse> ResolveLinkAsync(ResolveLinkRequest request, CancellationToken cancellationToken)
    {
        var plan = await _store.ResolveLinkAsync(request.LinkToken, request.Offset, request.Limit, cancellationToken).ConfigureAwait(false);
        return SyncMapping.ToResponse(plan);
    }
}
