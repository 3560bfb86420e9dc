using Dropbox.MetadataNode.Domain.Backups;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Storage;
using Dropbox.Shared.Tls;
using Dropbox.Shared.Tokens;
using Grpc.Net.Client;

namespace Dropbox.MetadataNode.Cluster;

/// <summary>
/// Asks storage nodes for store snapshots over dropbox.storage.v1.StoreSnapshots with a system token for the node, like
/// the other metadata-to-node calls. Backups are rare: one channel per call.
/// </summary>
internal sealed class GrpcStoreSnapshotGateway : IStoreSnapshotGateway
{
    // Linking sealed segments is instant, but the active one (up to the segment size) is copied.
    private static readonly TimeSpan CallTimeout = TimeSpan.FromMinutes(10);
    private readonly ChunkTokenService _tokens;
    private readonly ServerTrust _trust;

    public GrpcStoreSnapshotGateway(ChunkTokenService tokens, ServerTrust trust)
    {
        _tokens = tokens;
        _trust = trust;
    }

    public async Task<NodeSnapshot> SnapshotAsync(NodeRecord node, string backupName, CancellationToken cancellationToken)
    {
        using var channel = GrpcChannel.ForAddress(node.GrpcUrl, new GrpcChannelOptions { HttpHandler = _trust.CreateHandler() });
        var request = new SnapshotStoreRequest
        {
            Token = _tokens.Issue(TokenOperation.System, NamespaceId.SystemValue, node.NodeId, [], CallTimeout),
            BackupName = backupName,
        };
        var response = await new StoreSnapshots.StoreSnapshotsClient(channel)
            .SnapshotStoreAsync(request, deadline: DateTime.UtcNow + CallTimeout, cancellationToken: cancellationToken)
            .ConfigureAwait(false);
        return new NodeSnapshot(node.NodeId, response.Path, (int)response.Segments, (int)response.Linked, (long)response.Bytes);
    }
}
