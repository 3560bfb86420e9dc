using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Remote;

namespace Dropbox.SyncClient.Tests;

/// <summary>A metadata remote whose listing and feed answers a test scripts; every other call is not expected.</summary>
internal sealed class ScriptedRemote(Func<ListFilesRequest, ListFilesResponse>? listFiles = null, Func<ListChangesRequest, ListChangesResponse>? listChanges = null) : IMetadataRemote
{
    public int ListFilesCalls { get; private set; }

    public int ListChangesCalls { get; private set; }

    public Task<ListFilesResponse> ListFilesAsync(ListFilesRequest request, CancellationToken ct)
    {
        ListFilesCalls++;
        return Task.FromResult(listFiles!(request));
    }

    public Task<ListChangesResponse> ListChangesAsync(ListChangesRequest request, CancellationToken ct)
    {
        ListChangesCalls++;
        return Task.FromResult(listChanges!(request));
    }

    public Task<PlanUploadResponse> PlanUploadAsync(PlanUploadRequest request, CancellationToken ct) => throw new NotSupportedException();

    public Task<PlanUploadResponse> PlanChunksAsync(PlanChunksRequest request, CancellationToken ct) => throw new NotSupportedException();

    public Task<CommitFileResponse> CommitFileAsync(CommitFileRequest request, CancellationToken ct) => throw new NotSupportedException();

    public Task<CommitFilesResponse> CommitFilesAsync(CommitFilesRequest request, CancellationToken ct) => throw new NotSupportedException();

    public Task<GetDownloadPlanResponse> GetDownloadPlanAsync(GetDownloadPlanRequest request, CancellationToken ct) => throw new NotSupportedException();

    public Task<ListVersionsResponse> ListVersionsAsync(ListVersionsRequest request, CancellationToken ct) => throw new NotSupportedException();

    public Task<RestoreResponse> RestoreAsync(RestoreRequest request, CancellationToken ct) => throw new NotSupportedException();

    public Task<DeleteFileResponse> DeleteFileAsync(DeleteFileRequest request, CancellationToken ct) => throw new NotSupportedException();

    public Task<MoveFileResponse> MoveFileAsync(MoveFileRequest request, CancellationToken ct) => throw new NotSupportedException();

    public Task<CreateFolderResponse> CreateFolderAsync(CreateFolderRequest request, CancellationToken ct) => throw new NotSupportedException();

    public Task<GetAccountResponse> GetAccountAsync(CancellationToken ct) => throw new NotSupportedException();
}
