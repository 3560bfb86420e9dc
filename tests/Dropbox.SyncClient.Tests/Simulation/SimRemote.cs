using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Remote;

namespace Dropbox.SyncClient.Tests.Simulation;

/// <summary>
/// One device's network: every call to the shared <see cref="FakeServer"/> goes through the world, which may fail it
/// before it reaches the server, lose its answer after the server acted, hold the answer while other devices act
/// (responses reordered between devices), let the user edit the folder meanwhile, or crash the device there.
/// </summary>
internal sealed class SimRemote(SimWorld world, SimDevice device, FakeServer server) : IMetadataRemote, IChunkTransfer
{
    private async Task<T> CallAsync<T>(string method, string key, Func<Task<T>> call)
    {
        var fault = await world.BeforeCallAsync(device, method, key).ConfigureAwait(false);
        var result = await call().ConfigureAwait(false);
        await world.AfterCallAsync(device, method, key, fault).ConfigureAwait(false);
        return result;
    }

    private static string Paths<TFile>(IEnumerable<TFile> files, Func<TFile, string> path) => string.Join(",", files.Select(path));

    public Task<PlanUploadResponse> PlanUploadAsync(PlanUploadRequest request, CancellationToken ct) =>
        CallAsync("PlanUpload", request.Path, () => server.PlanUploadAsync(request, ct));

    public Task<PlanUploadResponse> PlanChunksAsync(PlanChunksRequest request, CancellationToken ct) =>
        CallAsync("PlanChunks", request.Path, () => server.PlanChunksAsync(request, ct));

    public Task<CommitFileResponse> CommitFileAsync(CommitFileRequest request, CancellationToken ct) =>
        CallAsync("CommitFile", request.Path, () => server.CommitFileAsync(request, ct));

    public Task<CommitFilesResponse> CommitFilesAsync(CommitFilesRequest request, CancellationToken ct) =>
        CallAsync("CommitFiles", Paths(request.Files, f => f.Path), () => server.CommitFilesAsync(request, ct));

    public Task<PlanUploadsResponse> PlanUploadsAsync(PlanUploadsRequest request, CancellationToken ct) =>
        CallAsync("PlanUploads", Paths(request.Files, f => f.Path), () => server.PlanUploadsAsync(request, ct));

    public Task<GetDownloadPlanResponse> GetDownloadPlanAsync(GetDownloadPlanRequest request, CancellationToken ct) =>
        CallAsync("GetDownloadPlan", request.Path, () => server.GetDownloadPlanAsync(request, ct));

    public Task<GetDownloadPlansResponse> GetDownloadPlansAsync(GetDownloadPlansRequest request, CancellationToken ct) =>
        CallAsync("GetDownloadPlans", Paths(request.Files, f => f.Path), () => server.GetDownloadPlansAsync(request, ct));

    public Task<ListChangesResponse> ListChangesAsync(ListChangesRequest request, CancellationToken ct) =>
        CallAsync("ListChanges", request.Cursor, () => server.ListChangesAsync(request, ct));

    public Task<ListFilesResponse> ListFilesAsync(ListFilesRequest request, CancellationToken ct) =>
        CallAsync("ListFiles", request.Prefix + "|" + request.StartAfter, () => server.ListFilesAsync(request, ct));

    public Task<ListVersionsResponse> ListVersionsAsync(ListVersionsRequest request, CancellationToken ct) =>
        CallAsync("ListVersions", request.Path, () => server.ListVersionsAsync(request, ct));

    public Task<RestoreResponse> RestoreAsync(RestoreRequest request, CancellationToken ct) =>
        CallAsync("Restore", request.Path, () => server.RestoreAsync(request, ct));

    public Task<DeleteFileResponse> DeleteFileAsync(DeleteFileRequest request, CancellationToken ct) =>
        CallAsync("DeleteFile", request.Path, () => server.DeleteFileAsync(request, ct));

    public Task<MoveFileResponse> MoveFileAsync(MoveFileRequest request, CancellationToken ct) =>
        CallAsync("MoveFile", request.FromPath + ">" + request.ToPath, () => server.MoveFileAsync(request, ct));

    public Task<CreateFolderResponse> CreateFolderAsync(CreateFolderRequest request, CancellationToken ct) =>
        CallAsync("CreateFolder", request.Path, () => server.CreateFolderAsync(request, ct));

    public Task<GetAccountResponse> GetAccountAsync(CancellationToken ct) =>
        CallAsync("GetAccount", string.Empty, () => server.GetAccountAsync(ct));

    public Task PutChunksAsync(string grpcUrl, IReadOnlyList<OutgoingChunk> chunks, CancellationToken ct) =>
        CallAsync("PutChunks", string.Join(",", chunks.Select(c => c.Id.ToShortString())), async () =>
        {
            await server.PutChunksAsync(grpcUrl, chunks, ct).ConfigureAwait(false);
            return true;
        });

    public Task<IReadOnlyList<IncomingChunk>> GetChunksAsync(string grpcUrl, IReadOnlyList<ChunkId> ids, string token, CancellationToken ct) =>
        CallAsync("GetChunks", string.Join(",", ids.Select(id => id.ToShortString())), () => server.GetChunksAsync(grpcUrl, ids, token, ct));
}
