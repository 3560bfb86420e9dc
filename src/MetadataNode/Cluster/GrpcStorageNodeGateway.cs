using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Channels;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Storage;
using Dropbox.Shared.Tls;
using Dropbox.Shared.Tokens;
using Grpc.Net.Client;

namespace Dropbox.MetadataNode.Cluster;

/// <summary>Calls storage nodes over gRPC with system tokens; one cached channel per node URL.</summary>
internal sealed class GrpcStorageNodeGateway : IStorageNodeGateway, IDisposable
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan SystemTokenLifetime = TimeSpan.FromMinutes(2);
    private readonly ChunkTokenService _tokens;
    private readonly GrpcChannelCache _channels;

    public GrpcStorageNodeGateway(ChunkTokenService tokens, ServerTrust? trust = null)
    {
        _tokens = tokens;
        _channels = new GrpcChannelCache(trust ?? ServerTrust.System, 64 * 1024 * 1024);
    }

    public async Task<bool[]> HasChunksAsync(StorageNodeInfo node, IReadOnlyList<ChunkId> ids, CancellationToken cancellationToken)
    {
        // One call per slice: a storage node refuses a message past its 1 MiB frame limit, and a refused call
        // used to read as "node unreachable", i.e. every chunk "not stored".
        var present = new bool[ids.Count];
        var client = Client(node);
        for (var start = 0; start < ids.Count; start += Limits.MaxIdsPerNodeCall)
        {
            var count = Math.Min(Limits.MaxIdsPerNodeCall, ids.Count - start);
            var request = new HasChunksRequest { Token = SystemToken(node) };
            for (var i = 0; i < count; i++)
            {
                request.ChunkIds.Add(ids[start + i].ToByteString());
            }

            var response = await client.HasChunksAsync(request, deadline: DateTime.UtcNow + CallTimeout, cancellationToken: cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < count && i < response.Present.Count; i++)
            {
                present[start + i] = response.Present[i];
            }
        }

        return present;
    }

    public async Task<int> DeleteChunksAsync(StorageNodeInfo node, IReadOnlyList<ChunkId> ids, CancellationToken cancellationToken)
    {
        var deleted = 0;
        var client = Client(node);
        for (var start = 0; start < ids.Count; start += Limits.MaxIdsPerNodeCall)
        {
            var count = Math.Min(Limits.MaxIdsPerNodeCall, ids.Count - start);
            var request = new DeleteChunksRequest { Token = SystemToken(node) };
            for (var i = 0; i < count; i++)
            {
                request.ChunkIds.Add(ids[start + i].ToByteString());
            }

            var response = await client.DeleteChunksAsync(request, deadline: DateTime.UtcNow + CallTimeout, cancellationToken: cancellationToken).ConfigureAwait(false);
            deleted += (int)response.Deleted;
        }

        return deleted;
    }

    public void Dispose() => _channels.Dispose();

    private string SystemToken(StorageNodeInfo node) =>
        _tokens.IssueSystem(node.NodeId, SystemTokenLifetime);

    private ChunkStorage.ChunkStorageClient Client(StorageNodeInfo node)
    {
        var channel = _channels.Get(node.GrpcUrl);
        return new ChunkStorage.ChunkStorageClient(channel);
    }
}
