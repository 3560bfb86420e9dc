using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Storage;
using Google.Protobuf;
using Grpc.Core;

namespace Dropbox.IntegrationTests.Client.Hostile;

/// <summary>A storage node that sends, for each chunk asked for, the header and bytes <see cref="HostileWorld"/> holds, true or not.</summary>
internal sealed class HostileStorageService(HostileWorld world) : ChunkStorage.ChunkStorageBase
{
    private const int FrameSize = 1 << 20;

    public override async Task GetChunks(GetChunksRequest request, IServerStreamWriter<GetChunkResponse> responseStream, ServerCallContext context)
    {
        foreach (var raw in request.ChunkIds)
        {
            world.OnGetChunk?.Invoke(raw.ToChunkId());
            if (!world.Chunks.TryGetValue(raw.ToChunkId(), out var chunk))
            {
                throw new RpcException(new Status(StatusCode.NotFound, "chunk not stored here"));
            }

            await responseStream.WriteAsync(new GetChunkResponse { Header = chunk.Header });
            for (var offset = 0; offset < chunk.Data.Length; offset += FrameSize)
            {
                await responseStream.WriteAsync(new GetChunkResponse { Data = ByteString.CopyFrom(chunk.Data, offset, Math.Min(FrameSize, chunk.Data.Length - offset)) });
            }
        }
    }
}
