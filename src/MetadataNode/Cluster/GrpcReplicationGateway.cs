using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Domain.Replication;
using Dropbox.Shared.Channels;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Storage;
using Dropbox.Shared.Tls;
using Dropbox.Shared.Tokens;
using Grpc.Net.Client;

namespace Dropbox.MetadataNode.Cluster;

/// <summary>
/// Orders copies over dropbox.storage.v1.Replication: a system token for the source, one put token per chunk for the
/// target (in the system namespace: a copy belongs to no account). One cached channel per source URL.
/// </summary>
internal sealed class GrpcReplicationGateway : IReplicationGateway, IDisposable
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan TokenLifetime = TimeSpan.FromMinutes(10);
    private readonly ChunkTokenService _tokens;
    private readonly GrpcChannelCache _channels;

    public GrpcReplicationGateway(ChunkTokenService tokens, ServerTrust trust)
    {
        _tokens = tokens;
        _channels = new GrpcChannelCache(trust, 64 * 1024 * 1024);
    }

    public async Task<PushOutcome> PushAsync(StorageNodeInfo source, StorageNodeInfo target, IReadOnlyList<ChunkId> ids, CancellationToken cancellationToken)
    {
        var request = new PushChunksRequest
        {
            Token = _tokens.IssueSystem(source.NodeId, TokenLifetime),
            TargetNodeId = target.NodeId,
            TargetGrpcUrl = target.GrpcUrl,
        };
        foreach (var id in ids)
        {
            request.ChunkIds.Add(id.ToByteString());
            request.PutTokens.Add(_tokens.Issue(TokenOperation.Put, NamespaceId.SystemValue, target.NodeId, [id], TokenLifetime));
        }

        var channel = _channels.Get(source.GrpcUrl);
        var response = await new Replication.ReplicationClient(channel)
            .PushChunksAsync(request, deadline: DateTime.UtcNow + CallTimeout, cancellationToken: cancellationToken)
            .ConfigureAwait(false);
        return new PushOutcome(response.Pushed.Select(b => b.ToChunkId()).ToList(), response.Unreadable.Select(b => b.ToChunkId()).ToList());
    }

    public void Dispose() => _channels.Dispose();
}
