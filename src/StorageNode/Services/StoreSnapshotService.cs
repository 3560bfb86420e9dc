using Dropbox.Shared.IO;
using Dropbox.Shared.Protos.Storage;
using Dropbox.Shared.Tokens;
using Dropbox.StorageNode.Store;
using Grpc.Core;

namespace Dropbox.StorageNode.Services;

/// <summary>
/// gRPC adapter for online backups (dropbox.storage.v1.StoreSnapshots): checks the system token, turns the backup
/// name into a folder under this node's own backup folder, and leaves the rest to <see cref="BackupParts"/>; removes a part again.
/// </summary>
public sealed class StoreSnapshotService : StoreSnapshots.StoreSnapshotsBase
{
    private readonly ChunkStore _store;
    private readonly ChunkTokenService _tokens;
    private readonly BackupParts _parts;

    /// <summary>Creates the service.</summary>
    public StoreSnapshotService(ChunkStore store, ChunkTokenService tokens, BackupParts parts)
    {
        _store = store;
        _tokens = tokens;
        _parts = parts;
    }

    /// <inheritdoc />
    public override async Task<SnapshotStoreResponse> SnapshotStore(SnapshotStoreRequest request, ServerCallContext context)
    {
        _tokens.Validate(request.Token, TokenOperation.System, _store.NodeId.Value);
        if (request.HoldWaitSeconds > Shared.IO.BackupName.MaxHoldWaitSeconds)
        {
            throw new Shared.Errors.DropboxException(Shared.Errors.ErrorKind.InvalidArgument, $"hold_wait_seconds must be at most {Shared.IO.BackupName.MaxHoldWaitSeconds} (a day); got {request.HoldWaitSeconds}.");
        }

        var holdWait = request.HoldWaitSeconds == 0 ? StoreSnapshot.DefaultHoldWait : TimeSpan.FromSeconds(request.HoldWaitSeconds);
        var result = await _parts.TakeAsync(_store.Engine, _store.NodeId, request.BackupName, holdWait, context.CancellationToken).ConfigureAwait(false);
        return new SnapshotStoreResponse { Path = result.Path, Segments = (uint)result.Segments, Linked = (uint)result.Linked, Bytes = (ulong)result.Bytes };
    }

    /// <inheritdoc />
    public override async Task<DeleteSnapshotResponse> DeleteSnapshot(DeleteSnapshotRequest request, ServerCallContext context)
    {
        _tokens.Validate(request.Token, TokenOperation.System, _store.NodeId.Value);
        return new DeleteSnapshotResponse { Removed = await _parts.DeleteAsync(request.BackupName, _store.NodeId, context.CancellationToken).ConfigureAwait(false) };
    }
}
