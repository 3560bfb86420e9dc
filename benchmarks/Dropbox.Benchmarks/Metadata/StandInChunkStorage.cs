using Dropbox.Shared.Protos.Storage;
using Grpc.Core;

namespace Dropbox.Benchmarks.Metadata;

/// <summary>
/// The stand-in storage node's gRPC service: it holds every chunk it is asked about, deletes whatever it is told to,
/// and refuses everything else, so a metadata benchmark's commits get the answer a healthy node would give at the
/// cost of one cheap call (the node's CPU is in its own process, not in the measured one).
/// </summary>
internal sealed class StandInChunkStorage : ChunkStorage.ChunkStorageBase
{
    /// <inheritdoc />
    public override Task<HasChunksResponse> HasChunks(HasChunksRequest request, ServerCallContext context)
    {
        var response = new HasChunksResponse();
        for (var i = 0; i < request.ChunkIds.Count; i++)
        {
            response.Present.Add(true);
        }

        return Task.FromResult(response);
    }

    /// <inheritdoc />
    public override Task<DeleteChunksResponse> DeleteChunks(DeleteChunksRequest request, ServerCallContext context) =>
        Task.FromResult(new DeleteChunksResponse { Deleted = (uint)request.ChunkIds.Count });
}
