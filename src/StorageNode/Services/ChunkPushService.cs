using Dropbox.Shared.Channels;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Storage;
using Dropbox.Shared.Tokens;
using Dropbox.StorageNode.Cluster;
using Dropbox.StorageNode.Store;
using Google.Protobuf;
using Grpc.Core;
using ProtoEncoding = Dropbox.Shared.Protos.Common.ChunkEncoding;

namespace Dropbox.StorageNode.Services;

/// <summary>
/// dropbox.storage.v1.Replication: copies chunks this node holds to another node, as the metadata node orders
/// (re-replication, drain). Reads each chunk through <see cref="ChunkStore"/>, checks it is intact (a corrupt copy is
/// never spread), and streams it to the target's PutChunks with the target's put token; the target re-hashes it and
/// reports it stored like any put.
/// </summary>
public sealed class ChunkPushService : Replication.ReplicationBase
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromMinutes(5);
    private readonly ChunkStore _store;
    private readonly ChunkTokenService _tokens;
    private readonly GrpcChannelCache _peers;

    /// <summary>Creates the service.</summary>
    public ChunkPushService(ChunkStore store, ChunkTokenService tokens, GrpcChannelCache peers)
    {
        _store = store;
        _tokens = tokens;
        _peers = peers;
    }

    /// <inheritdoc />
    public override async Task<PushChunksResponse> PushChunks(PushChunksRequest request, ServerCallContext context)
    {
        _tokens.Validate(request.Token, TokenOperation.System, _store.NodeId.Value);
        if (request.ChunkIds.Count != request.PutTokens.Count)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"{request.ChunkIds.Count} chunk ids but {request.PutTokens.Count} put tokens; send one token per chunk.");
        }

        if (request.ChunkIds.Count > StoreLimits.MaxIdsPerCall)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"{request.ChunkIds.Count} chunk ids in one call; send at most {StoreLimits.MaxIdsPerCall}.");
        }

        if (!Uri.TryCreate(request.TargetGrpcUrl, UriKind.Absolute, out var target) || (target.Scheme != Uri.UriSchemeHttp && target.Scheme != Uri.UriSchemeHttps))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"target_grpc_url must be an absolute http(s) URL; got '{request.TargetGrpcUrl}'.");
        }

        var ct = context.CancellationToken;
        var response = new PushChunksResponse();
        var client = new ChunkStorage.ChunkStorageClient(_peers.Get(request.TargetGrpcUrl));
        using var call = client.PutChunks(deadline: DateTime.UtcNow + CallTimeout, cancellationToken: ct);
        var sent = new List<ByteString>(request.ChunkIds.Count);
        for (var i = 0; i < request.ChunkIds.Count; i++)
        {
            var id = request.ChunkIds[i].ToChunkId();
            Engine.StoredChunk chunk;
            try
            {
                chunk = await _store.ReadAsync(id, ct).ConfigureAwait(false);
            }
            catch (DropboxException e) when (e.Kind is ErrorKind.NotFound or ErrorKind.DataLoss)
            {
                response.Unreadable.Add(request.ChunkIds[i]);
                continue;
            }

            using (chunk)
            {
                if (!ChunkStore.IsIntact(id, chunk))
                {
                    await _store.QuarantineIfCorruptAsync(id, CancellationToken.None).ConfigureAwait(false);
                    response.Unreadable.Add(request.ChunkIds[i]);
                    continue;
                }

                await call.RequestStream.WriteAsync(new PutChunkRequest
                {
                    Header = new ChunkHeader
                    {
                        ChunkId = request.ChunkIds[i],
                        Encoding = (ProtoEncoding)chunk.Encoding,
                        PlainSize = (uint)chunk.PlainLength,
                        StoredSize = (uint)chunk.Length,
                        Token = request.PutTokens[i],
                    },
                }, ct).ConfigureAwait(false);
                var data = chunk.Data;
                for (var offset = 0; offset < data.Length; offset += StoreLimits.MaxFrameBytes)
                {
                    // Serialized before WriteAsync completes, so wrapping the pooled buffer is safe.
                    var frame = data.Slice(offset, Math.Min(StoreLimits.MaxFrameBytes, data.Length - offset));
                    await call.RequestStream.WriteAsync(new PutChunkRequest { Data = UnsafeByteOperations.UnsafeWrap(frame) }, ct).ConfigureAwait(false);
                }

                sent.Add(request.ChunkIds[i]);
            }
        }

        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        var answer = await call.ResponseAsync.ConfigureAwait(false);
        response.Pushed.AddRange(answer.Results.Select(r => r.ChunkId));
        return response;
    }
}
