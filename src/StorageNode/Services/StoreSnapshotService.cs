using Dropbox.Shared.IO;
using Dropbox.Shared.Protos.Storage;
using Dropbox.Shared.Tokens;
using Dropbox.StorageNode.Store;
using Grpc.Core;

namespace Dropbox.StorageNode.Services;

/// <summary>
/// gRPC adapter for online backups (dropbox.storage.v1.StoreSnapshots): checks the system token, turns the backup
/// name into a folder under this node's own backup folder, and leaves the rest to <see cref="StoreSnapshot"/>.
/// </summary>
public sealed class StoreSnapshotService : StoreSnapshots.StoreSnapshotsBase
{
    private readonly ChunkStore _store;
    private readonly ChunkTokenService _tokens;
    private readonly StorageNodeOptions _options;

    /// <summary>Creates the service.</summary>
    public StoreSnapshotService(ChunkStore store, ChunkTokenService tokens, StorageNodeOptions options)
    {
        _store = store;
        _tokens = tokens;
        _options = options;
    }

    /// <inheritdoc />
    public override async Task<SnapshotStoreResponse> SnapshotStore(SnapshotStoreRequest request, ServerCallContext context)
    {
        _tokens.Validate(request.Token, TokenOperation.System, _store.NodeId.Value);
        var name = BackupName.Validate(request.BackupName);
        var data = Path.GetFullPath(_options.DataDirectory).TrimEnd(Path.DirectorySeparatorChar);
        var destination = Path.Combine(_options.BackupFolder, name, Path.GetFileName(data));
        PrivateFolder.Create(Path.GetDirectoryName(destination)!);
        var result = await StoreSnapshot.TakeAsync(_store.Engine, _store.NodeId, destination, context.CancellationToken).ConfigureAwait(false);
        return new SnapshotStoreResponse { Path = result.Path, Segments = (uint)result.Segments, Linked = (uint)result.Linked, Bytes = (ulong)result.Bytes };
    }
}
