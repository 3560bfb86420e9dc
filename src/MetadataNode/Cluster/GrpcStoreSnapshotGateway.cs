using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Domain.Backups;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.IO;
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
    // The token is checked when the call starts; the call itself has no deadline here (the caller's token bounds it:
    // BackupNodeTimeout), since a node whose backup folder is on another file system copies every byte it holds.
    private static readonly TimeSpan TokenLifetime = TimeSpan.FromMinutes(10);
    // A removal waits for a cancelled snapshot of the same name to stop, then unlinks files: short.
    private static readonly TimeSpan DeleteTimeout = TimeSpan.FromMinutes(2);
    private readonly ChunkTokenService _tokens;
    private readonly ServerTrust _trust;

    public GrpcStoreSnapshotGateway(ChunkTokenService tokens, ServerTrust trust)
    {
        _tokens = tokens;
        _trust = trust;
    }

    public async Task<NodeSnapshot> SnapshotAsync(StorageNodeInfo node, string backupName, TimeSpan holdWait, CancellationToken cancellationToken)
    {
        using var channel = GrpcChannel.ForAddress(node.GrpcUrl, new GrpcChannelOptions { HttpHandler = _trust.CreateHandler() });
        var request = new SnapshotStoreRequest
        {
            Token = _tokens.IssueSystem(node.NodeId, TokenLifetime),
            BackupName = backupName,
            HoldWaitSeconds = (uint)Math.Clamp(Math.Ceiling(holdWait.TotalSeconds), 1, BackupName.MaxHoldWaitSeconds),
        };
        var response = await new StoreSnapshots.StoreSnapshotsClient(channel)
            .SnapshotStoreAsync(request, cancellationToken: cancellationToken)
            .ConfigureAwait(false);
        return new NodeSnapshot(node.NodeId, response.Path, (int)response.Segments, (int)response.Linked, (long)response.Bytes);
    }

    public async Task<bool> DeleteSnapshotAsync(StorageNodeInfo node, string backupName, CancellationToken cancellationToken)
    {
        using var channel = GrpcChannel.ForAddress(node.GrpcUrl, new GrpcChannelOptions { HttpHandler = _trust.CreateHandler() });
        var request = new DeleteSnapshotRequest
        {
            Token = _tokens.IssueSystem(node.NodeId, DeleteTimeout),
            BackupName = backupName,
        };
        var response = await new StoreSnapshots.StoreSnapshotsClient(channel)
            .DeleteSnapshotAsync(request, deadline: DateTime.UtcNow + DeleteTimeout, cancellationToken: cancellationToken)
            .ConfigureAwait(false);
        return response.Removed;
    }
}
