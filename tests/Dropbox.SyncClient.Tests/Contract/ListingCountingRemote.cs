using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Remote;

namespace Dropbox.SyncClient.Tests.Contract;

/// <summary>
/// A remote that passes every call to <paramref name="inner"/> (its batch calls too) and counts the whole listings the
/// client starts: a listing of everything, from its first page.
/// </summary>
internal sealed class ListingCountingRemote(IMetadataRemote inner) : IMetadataRemote
{
    private int _wholeListings;

    /// <summary>Whole listings started through this remote.</summary>
    public int WholeListings => Volatile.Read(ref _wholeListings);

    /// <summary>Tests: runs right before each MoveFile is sent (another device's change between a pass's listing and its move).</summary>
    public Func<MoveFileRequest, Task>? BeforeMoveFile { get; init; }

    /// <summary>Tests: runs right after each ListFiles answer arrives (another device's change after a listing).</summary>
    public Func<ListFilesRequest, Task>? AfterListFiles { get; init; }

    public async Task<ListFilesResponse> ListFilesAsync(ListFilesRequest request, CancellationToken ct)
    {
        if (request.Prefix.Length == 0 && request.StartAfter.Length == 0)
        {
            Interlocked.Increment(ref _wholeListings);
        }

        var listed = await inner.ListFilesAsync(request, ct);
        if (AfterListFiles is { } after)
        {
            await after(request);
        }

        return listed;
    }

    public Task<PlanUploadResponse> PlanUploadAsync(PlanUploadRequest request, CancellationToken ct) => inner.PlanUploadAsync(request, ct);

    public Task<PlanUploadResponse> PlanChunksAsync(PlanChunksRequest request, CancellationToken ct) => inner.PlanChunksAsync(request, ct);

    public Task<CommitFileResponse> CommitFileAsync(CommitFileRequest request, CancellationToken ct) => inner.CommitFileAsync(request, ct);

    public Task<CommitFilesResponse> CommitFilesAsync(CommitFilesRequest request, CancellationToken ct) => inner.CommitFilesAsync(request, ct);

    public Task<PlanUploadsResponse> PlanUploadsAsync(PlanUploadsRequest request, CancellationToken ct) => inner.PlanUploadsAsync(request, ct);

    public Task<GetDownloadPlanResponse> GetDownloadPlanAsync(GetDownloadPlanRequest request, CancellationToken ct) => inner.GetDownloadPlanAsync(request, ct);

    public Task<CreateLinkResponse> CreateLinkAsync(CreateLinkRequest request, CancellationToken ct) => inner.CreateLinkAsync(request, ct);

    public Task<GetDownloadPlansResponse> GetDownloadPlansAsync(GetDownloadPlansRequest request, CancellationToken ct) => inner.GetDownloadPlansAsync(request, ct);

    public Task<ListChangesResponse> ListChangesAsync(ListChangesRequest request, CancellationToken ct) => inner.ListChangesAsync(request, ct);

    public Task<ListVersionsResponse> ListVersionsAsync(ListVersionsRequest request, CancellationToken ct) => inner.ListVersionsAsync(request, ct);

    public Task<RestoreResponse> RestoreAsync(RestoreRequest request, CancellationToken ct) => inner.RestoreAsync(request, ct);

    public Task<DeleteFileResponse> DeleteFileAsync(DeleteFileRequest request, CancellationToken ct) => inner.DeleteFileAsync(request, ct);

    public async Task<MoveFileResponse> MoveFileAsync(MoveFileRequest request, CancellationToken ct)
    {
        if (BeforeMoveFile is { } before)
        {
            await before(request);
        }

        return await inner.MoveFileAsync(request, ct);
    }

    public Task<CreateFolderResponse> CreateFolderAsync(CreateFolderRequest request, CancellationToken ct) => inner.CreateFolderAsync(request, ct);

    public Task<GetAccountResponse> GetAccountAsync(CancellationToken ct) => inner.GetAccountAsync(ct);
}
