using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Remote;

namespace Dropbox.SyncClient.Tests;

/// <summary>A hostile metadata remote whose download plan always announces more pages; every other call is unused.</summary>
internal sealed class EndlessPlans(Action onPage, GetDownloadPlanResponse page) : IMetadataRemote
{
    public Task<GetDownloadPlanResponse> GetDownloadPlanAsync(GetDownloadPlanRequest request, CancellationToken ct)
    {
        onPage();
        return Task.FromResult(page);
    }

    public Task<PlanUploadResponse> PlanUploadAsync(PlanUploadRequest request, CancellationToken ct) => throw new NotSupportedException();

    public Task<PlanUploadResponse> PlanChunksAsync(PlanChunksRequest request, CancellationToken ct) => throw new NotSupportedException();

    public Task<CommitFileResponse> CommitFileAsync(CommitFileRequest request, CancellationToken ct) => throw new NotSupportedException();

    public Task<CommitFilesResponse> CommitFilesAsync(CommitFilesRequest request, CancellationToken ct) => throw new NotSupportedException();

    public Task<ListChangesResponse> ListChangesAsync(ListChangesRequest request, CancellationToken ct) => throw new NotSupportedException();

    public Task<ListFilesResponse> ListFilesAsync(ListFilesRequest request, CancellationToken ct) => throw new NotSupportedException();

    public Task<ListVersionsResponse> ListVersionsAsync(ListVersionsRequest request, CancellationToken ct) => throw new NotSupportedException();

    public Task<RestoreResponse> RestoreAsync(RestoreRequest request, CancellationToken ct) => throw new NotSupportedException();

    public Task<DeleteFileResponse> DeleteFileAsync(DeleteFileRequest request, CancellationToken ct) => throw new NotSupportedException();

    public Task<MoveFileResponse> MoveFileAsync(MoveFileRequest request, CancellationToken ct) => throw new NotSupportedException();

    public Task<CreateFolderResponse> CreateFolderAsync(CreateFolderRequest request, CancellationToken ct) => throw new NotSupportedException();

    public Task<GetAccountResponse> GetAccountAsync(CancellationToken ct) => throw new NotSupportedException();
}
