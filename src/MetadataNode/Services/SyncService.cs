using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.Shared.Protos.Metadata;
using Grpc.Core;

namespace Dropbox.MetadataNode.Services;

/// <summary>The sync API (dropbox.metadata.v1.Sync): authenticates, validates input shape, delegates to the store.</summary>
internal sealed class SyncService : Sync.SyncBase
{
    private readonly MetadataStore _store;
    private readonly CallAuthenticator _auth;
    private readonly MetadataMetrics _metrics;

    public SyncService(MetadataStore store, CallAuthenticator auth, MetadataMetrics metrics)
    {
        _store = store;
        _auth = auth;
        _metrics = metrics;
    }

    public override async Task<PlanUploadResponse> PlanUpload(PlanUploadRequest request, ServerCallContext context)
    {
        var user = _auth.User(context);
        var upload = SyncMapping.ToUpload(request);
        using var lease = await _store.AdmitAsync(user, upload.Chunks.Count, context.CancellationToken).ConfigureAwait(false);
        var plan = _store.PlanUpload(user, upload);
        _metrics.Planned(upload, plan);
        return SyncMapping.ToResponse(plan);
    }

    public override async Task<PlanUploadResponse> PlanChunks(PlanChunksRequest request, ServerCallContext context)
    {
        var user = _auth.User(context);
        var window = SyncMapping.ToWindow(request);
        using var lease = await _store.AdmitAsync(user, window.Chunks.Count, context.CancellationToken).ConfigureAwait(false);
        var plan = _store.PlanChunks(user, window);
        _metrics.Planned(window, plan);
        return SyncMapping.ToResponse(plan);
    }

    public override async Task<CommitFileResponse> CommitFile(CommitFileRequest request, ServerCallContext context)
    {
        var user = _auth.User(context);
        var upload = SyncMapping.ToUpload(request);
        using var lease = await _store.AdmitAsync(user, upload.Chunks.Count, context.CancellationToken).ConfigureAwait(false);
        return SyncMapping.ToResponse(await _store.CommitAsync(user, upload, context.CancellationToken).ConfigureAwait(false));
    }

    public override async Task<CommitFilesResponse> CommitFiles(CommitFilesRequest request, ServerCallContext context)
    {
        var user = _auth.User(context);
        if (request.Files.Count > Limits.MaxFilesPerBatch)
        {
            throw Limits.TooManyFiles(request.Files.Count);
        }

        EnsureFewEnoughChunks(request.Files.Sum(f => (long)f.Chunks.Count));
        var uploads = SyncMapping.ToUploads(request.Files, SyncMapping.ToUpload);

        using var lease = await _store.AdmitAsync(user, uploads.Sum(u => (long)u.Chunks.Count), context.CancellationToken).ConfigureAwait(false);
        return SyncMapping.ToResponse(await _store.CommitManyAsync(user, uploads, context.CancellationToken).ConfigureAwait(false));
    }

    public override async Task<PlanUploadsResponse> PlanUploads(PlanUploadsRequest request, ServerCallContext context)
    {
        var user = _auth.User(context);
        if (request.Files.Count > Limits.MaxFilesPerBatch)
        {
            throw Limits.TooManyFiles(request.Files.Count);
        }

        // Checked on the raw request, before any file is parsed or the work gate entered (the store checks it again).
        if (request.Files.Sum(f => (long)f.Chunks.Count) is var total and > Limits.MaxChunksPerPlanBatch)
        {
            throw Limits.TooManyChunksToPlan(total);
        }

        var uploads = SyncMapping.ToUploads(request.Files, SyncMapping.ToUpload);

        using var lease = await _store.AdmitAsync(user, uploads.Sum(u => (long)u.Chunks.Count), context.CancellationToken).ConfigureAwait(false);
        var plans = _store.PlanMany(user, uploads);
        _metrics.Planned(uploads, plans);
        return SyncMapping.ToResponse(plans, request.Compact);
    }

    /// <summary>
    /// The per-call chunk cap, checked on the raw request before any file is parsed or the work gate entered (the
    /// store checks it again, with the same message).
    /// </summary>
    private static void EnsureFewEnoughChunks(long total)
    {
        if (total > Limits.MaxChunksPerFile)
        {
            throw new Dropbox.Shared.Errors.DropboxException(Dropbox.Shared.Errors.ErrorKind.ResourceExhausted, $"Too many chunks in one call: {total}; the limit is MaxChunksPerFile = {Limits.MaxChunksPerFile} in all. Send fewer files per call.");
        }
    }

    public override async Task<GetDownloadPlanResponse> GetDownloadPlan(GetDownloadPlanRequest request, ServerCallContext context) =>
        SyncMapping.ToResponse(await _store.GetDownloadPlanAsync(_auth.User(context), request.Path, request.Version, request.Offset, request.Limit, context.CancellationToken).ConfigureAwait(false));

    public override async Task<GetDownloadPlansResponse> GetDownloadPlans(GetDownloadPlansRequest request, ServerCallContext context) =>
        SyncMapping.ToResponse(await _store.GetDownloadPlansAsync(_auth.User(context), SyncMapping.ToDomain(request.Files), context.CancellationToken).ConfigureAwait(false));

    public override async Task<ListChangesResponse> ListChanges(ListChangesRequest request, ServerCallContext context)
    {
        var page = await _store.ListChangesAsync(_auth.User(context), request.Cursor, request.Limit, request.WaitSeconds, context.CancellationToken).ConfigureAwait(false);
        if (request.WaitSeconds > 0)
        {
            // A long poll answers after its wait: a token rotated or a user removed meanwhile must not be shown the
            // changes made since (a leaked token holding a poll would otherwise read the paths of the next upload).
            _auth.User(context);
        }

        return SyncMapping.ToResponse(page);
    }

    public override Task<ListFilesResponse> ListFiles(ListFilesRequest request, ServerCallContext context) =>
        Task.FromResult(SyncMapping.ToResponse(_store.ListFiles(_auth.User(context), request.Prefix, request.IncludeDeleted, request.Limit, request.StartAfter)));

    public override Task<ListVersionsResponse> ListVersions(ListVersionsRequest request, ServerCallContext context) =>
        Task.FromResult(ListVersions(_auth.User(context), request.Path));

    private ListVersionsResponse ListVersions(UserInfo user, string path)
    {
        var versions = _store.ListVersions(user, path);
        return SyncMapping.ToVersionsResponse(versions, _store.DamagedVersions(versions));
    }

    public override async Task<RestoreResponse> Restore(RestoreRequest request, ServerCallContext context) =>
        SyncMapping.ToRestoreResponse(await _store.RestoreAsync(_auth.User(context), request.Path, request.Version, request.Device, request.OnlyIfDeleted).ConfigureAwait(false));

    public override async Task<DeleteFileResponse> DeleteFile(DeleteFileRequest request, ServerCallContext context) =>
        SyncMapping.ToDeleteResponse(await _store.DeleteAsync(_auth.User(context), request.Path, request.BaseVersion, request.Device, request.OnlyIfEmpty, request.HasExpectedKind ? SyncMapping.ToDomain(request.ExpectedKind) : null).ConfigureAwait(false));

    public override async Task<MoveFileResponse> MoveFile(MoveFileRequest request, ServerCallContext context) =>
        SyncMapping.ToMoveResponse(await _store.MoveAsync(_auth.User(context), request.FromPath, request.ToPath, request.BaseVersion, request.Device).ConfigureAwait(false));

    public override async Task<CreateFolderResponse> CreateFolder(CreateFolderRequest request, ServerCallContext context) =>
        SyncMapping.ToFolderResponse(await _store.CreateFolderAsync(_auth.User(context), request.Path, request.Device).ConfigureAwait(false));

    public override Task<CreateLinkResponse> CreateLink(CreateLinkRequest request, ServerCallContext context)
    {
        var link = _store.CreateLink(_auth.User(context), request.Path, request.Version, TimeSpan.FromSeconds(request.LifetimeSeconds));
        return Task.FromResult(new CreateLinkResponse { Url = link.Url, ExpiresUnixMs = link.Expires.ToUnixTimeMilliseconds(), Entry = SyncMapping.ToWire(link.Entry, withChunks: false) });
    }

    public override Task<GetAccountResponse> GetAccount(GetAccountRequest request, ServerCallContext context) =>
        Task.FromResult(SyncMapping.ToResponse(_store.GetAccount(_auth.User(context))));
}
