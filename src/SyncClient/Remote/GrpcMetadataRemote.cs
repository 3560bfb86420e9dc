using Dropbox.Shared.Channels;
using Dropbox.Shared.Protos.Metadata;
using Grpc.Core;
using SyncService = Dropbox.Shared.Protos.Metadata.Sync;

namespace Dropbox.SyncClient.Remote;

/// <summary><see cref="IMetadataRemote"/> over the generated gRPC client, with the user's bearer token on every call.</summary>
internal sealed class GrpcMetadataRemote : IMetadataRemote
{
    private readonly SyncService.SyncClient _client;
    private readonly Metadata _headers;
    private readonly TimeSpan _callTimeout;

    // Set once the server answered PlanUploads with UNIMPLEMENTED: it plans one file per call.
    private bool _noPlanUploads;

    /// <param name="callTimeout">How long one call may go unanswered (a long poll: its wait on top); null: <see cref="DefaultCallTimeout"/>.</param>
    public GrpcMetadataRemote(GrpcChannelCache channels, string serverUrl, string token, TimeSpan? callTimeout = null)
    {
        _client = new SyncService.SyncClient(channels.Get(serverUrl));
        _headers = new Metadata { { "authorization", "Bearer " + token } };
        _callTimeout = callTimeout ?? DefaultCallTimeout;
    }

    /// <summary>
    /// How long a call may go unanswered before it fails as retryable (<see cref="Dropbox.Shared.Errors.ErrorKind.Unavailable"/>):
    /// a server that took the call and never answers (a CommitFiles was once seen hanging under load) must not hold a pass,
    /// or the daemon, for good. Generous: a big commit on a loaded server is slow, not dead.
    /// </summary>
    public static readonly TimeSpan DefaultCallTimeout = TimeSpan.FromMinutes(2);

    /// <summary>
    /// What a call that carries <paramref name="chunks"/> chunk references may take on top of the call timeout: the
    /// server verifies each (asking the storage nodes), so a legitimately slow commit of a big batch is not failed on
    /// every retry. 20 ms a chunk: 10,000 chunks add 200 s.
    /// </summary>
    internal static TimeSpan BatchAllowance(long chunks) => TimeSpan.FromMilliseconds(20 * Math.Max(0, chunks));

    /// <summary>Every call has a deadline: <see cref="_callTimeout"/> from now, plus <paramref name="serverHolds"/> (a long poll's wait).</summary>
    private CallOptions Options(CancellationToken ct, TimeSpan serverHolds = default) =>
        new(headers: _headers, deadline: DateTime.UtcNow + _callTimeout + serverHolds, cancellationToken: ct);

    public Task<PlanUploadResponse> PlanUploadAsync(PlanUploadRequest request, CancellationToken ct) =>
        RemoteErrors.CallAsync($"Planning the upload of '{request.Path}'", ct, () => _client.PlanUploadAsync(request, Options(ct)).ResponseAsync);

    public Task<PlanUploadResponse> PlanChunksAsync(PlanChunksRequest request, CancellationToken ct) =>
        RemoteErrors.CallAsync($"Planning the upload of '{request.Path}'", ct, () => _client.PlanChunksAsync(request, Options(ct)).ResponseAsync);

    public Task<CommitFileResponse> CommitFileAsync(CommitFileRequest request, CancellationToken ct) =>
        RemoteErrors.CallAsync($"Committing '{request.Path}'", ct, () => _client.CommitFileAsync(request, Options(ct, BatchAllowance(request.Chunks.Count))).ResponseAsync);

    public Task<CommitFilesResponse> CommitFilesAsync(CommitFilesRequest request, CancellationToken ct) =>
        RemoteErrors.CallAsync($"Committing {request.Files.Count} files", ct, () => _client.CommitFilesAsync(request, Options(ct, BatchAllowance(request.Files.Sum(f => (long)f.Chunks.Count)))).ResponseAsync);

    /// <summary>
    /// One PlanUploads call; against a server without it (UNIMPLEMENTED, an older node) one PlanUpload per file, in
    /// order, and PlanUploads is not tried again for this session. A file refused there fails the whole call, as
    /// PlanUploads would.
    /// </summary>
    public async Task<PlanUploadsResponse> PlanUploadsAsync(PlanUploadsRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!Volatile.Read(ref _noPlanUploads))
        {
            var what = $"Planning the upload of {request.Files.Count} files";
            try
            {
                request.Compact = true; // each node and token once (an older server ignores it and answers in the original form)
                return UploadPlans.Expand(await _client.PlanUploadsAsync(request, Options(ct, BatchAllowance(request.Files.Sum(f => (long)f.Chunks.Count)))).ResponseAsync.ConfigureAwait(false));
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unimplemented)
            {
                Volatile.Write(ref _noPlanUploads, true);
            }
            catch (RpcException e)
            {
                throw RemoteErrors.Translate(what, e, ct);
            }
        }

        var response = new PlanUploadsResponse();
        foreach (var file in request.Files)
        {
            response.Results.Add(await PlanUploadAsync(file, ct).ConfigureAwait(false));
        }

        return response;
    }

    public Task<GetDownloadPlanResponse> GetDownloadPlanAsync(GetDownloadPlanRequest request, CancellationToken ct) =>
        RemoteErrors.CallAsync($"Planning the download of '{request.Path}'", ct, () => _client.GetDownloadPlanAsync(request, Options(ct)).ResponseAsync);

    public Task<CreateLinkResponse> CreateLinkAsync(CreateLinkRequest request, CancellationToken ct) =>
        RemoteErrors.CallAsync($"Making a link to '{request.Path}'", ct, () => _client.CreateLinkAsync(request, Options(ct)).ResponseAsync);

    public Task<GetDownloadPlansResponse> GetDownloadPlansAsync(GetDownloadPlansRequest request, CancellationToken ct) =>
        RemoteErrors.CallAsync($"Planning the download of {request.Files.Count} files", ct, () => _client.GetDownloadPlansAsync(request, Options(ct)).ResponseAsync);

    public Task<ListChangesResponse> ListChangesAsync(ListChangesRequest request, CancellationToken ct) =>
        RemoteErrors.CallAsync("Listing changes", ct, () => _client.ListChangesAsync(request, Options(ct, TimeSpan.FromSeconds(request.WaitSeconds))).ResponseAsync);

    public Task<ListFilesResponse> ListFilesAsync(ListFilesRequest request, CancellationToken ct) =>
        RemoteErrors.CallAsync("Listing files", ct, () => _client.ListFilesAsync(request, Options(ct)).ResponseAsync);

    public Task<ListVersionsResponse> ListVersionsAsync(ListVersionsRequest request, CancellationToken ct) =>
        RemoteErrors.CallAsync($"Listing versions of '{request.Path}'", ct, () => _client.ListVersionsAsync(request, Options(ct)).ResponseAsync);

    public Task<RestoreResponse> RestoreAsync(RestoreRequest request, CancellationToken ct) =>
        RemoteErrors.CallAsync($"Restoring '{request.Path}'", ct, () => _client.RestoreAsync(request, Options(ct)).ResponseAsync);

    public Task<DeleteFileResponse> DeleteFileAsync(DeleteFileRequest request, CancellationToken ct) =>
        RemoteErrors.CallAsync($"Deleting '{request.Path}'", ct, () => _client.DeleteFileAsync(request, Options(ct)).ResponseAsync);

    public Task<MoveFileResponse> MoveFileAsync(MoveFileRequest request, CancellationToken ct) =>
        RemoteErrors.CallAsync($"Moving '{request.FromPath}' to '{request.ToPath}'", ct, () => _client.MoveFileAsync(request, Options(ct)).ResponseAsync);

    public Task<CreateFolderResponse> CreateFolderAsync(CreateFolderRequest request, CancellationToken ct) =>
        RemoteErrors.CallAsync($"Creating folder '{request.Path}'", ct, () => _client.CreateFolderAsync(request, Options(ct)).ResponseAsync);

    public Task<GetAccountResponse> GetAccountAsync(CancellationToken ct) =>
        RemoteErrors.CallAsync("Reading the account", ct, () => _client.GetAccountAsync(new GetAccountRequest(), Options(ct)).ResponseAsync);
}
