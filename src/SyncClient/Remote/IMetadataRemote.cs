using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.SyncClient.Remote;

/// <summary>
/// The metadata node's sync API as the client uses it. Failures surface as
/// <see cref="Dropbox.Shared.Errors.DropboxException"/> with the server's trailers in Details
/// ("current-version" on a conflict, "missing-chunks" on a refused commit).
/// </summary>
internal interface IMetadataRemote
{
    Task<PlanUploadResponse> PlanUploadAsync(PlanUploadRequest request, CancellationToken ct);

    /// <summary>Plans one window of a file's chunks while the file is still being read (the one-read upload).</summary>
    Task<PlanUploadResponse> PlanChunksAsync(PlanChunksRequest request, CancellationToken ct);

    Task<CommitFileResponse> CommitFileAsync(CommitFileRequest request, CancellationToken ct);

    /// <summary>Commits many files in one call; each gets its own result (conflict, missing chunks...).</summary>
    Task<CommitFilesResponse> CommitFilesAsync(CommitFilesRequest request, CancellationToken ct);

    /// <summary>
    /// Plans many files in one call; each gets the answer <see cref="PlanUploadAsync"/> would give it. The default
    /// plans them one call each (test doubles and remotes without the batch call).
    /// </summary>
    async Task<PlanUploadsResponse> PlanUploadsAsync(PlanUploadsRequest request, CancellationToken ct)
    {
        var response = new PlanUploadsResponse();
        foreach (var file in request.Files)
        {
            response.Results.Add(await PlanUploadAsync(file, ct).ConfigureAwait(false));
        }

        return response;
    }

    Task<GetDownloadPlanResponse> GetDownloadPlanAsync(GetDownloadPlanRequest request, CancellationToken ct);

    /// <summary>One expiring link to a whole version of a file (<c>link PATH</c>); a remote without links refuses.</summary>
    Task<CreateLinkResponse> CreateLinkAsync(CreateLinkRequest request, CancellationToken ct) =>
        throw new NotSupportedException("This remote does not make file links.");

    /// <summary>
    /// The first pages of many files' download plans in one answer, nodes and tokens shared (a file gone remotely: a
    /// plan without entry). By default one <see cref="GetDownloadPlanAsync"/> per file, each plan with its own tables.
    /// </summary>
    async Task<GetDownloadPlansResponse> GetDownloadPlansAsync(GetDownloadPlansRequest request, CancellationToken ct)
    {
        var response = new GetDownloadPlansResponse();
        foreach (var file in request.Files)
        {
            try
            {
                response.Plans.Add(await GetDownloadPlanAsync(file, ct).ConfigureAwait(false));
            }
            catch (Dropbox.Shared.Errors.DropboxException e) when (e.Kind == Dropbox.Shared.Errors.ErrorKind.NotFound)
            {
                response.Plans.Add(new GetDownloadPlanResponse());
            }
        }

        return response;
    }

    Task<ListChangesResponse> ListChangesAsync(ListChangesRequest request, CancellationToken ct);

    Task<ListFilesResponse> ListFilesAsync(ListFilesRequest request, CancellationToken ct);

    Task<ListVersionsResponse> ListVersionsAsync(ListVersionsRequest request, CancellationToken ct);

    Task<RestoreResponse> RestoreAsync(RestoreRequest request, CancellationToken ct);

    Task<DeleteFileResponse> DeleteFileAsync(DeleteFileRequest request, CancellationToken ct);

    Task<MoveFileResponse> MoveFileAsync(MoveFileRequest request, CancellationToken ct);

    Task<CreateFolderResponse> CreateFolderAsync(CreateFolderRequest request, CancellationToken ct);

    Task<GetAccountResponse> GetAccountAsync(CancellationToken ct);
}
