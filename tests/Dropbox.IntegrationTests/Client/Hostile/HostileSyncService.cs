using Dropbox.Shared.Protos.Metadata;
using Grpc.Core;
using SyncService = Dropbox.Shared.Protos.Metadata.Sync;

namespace Dropbox.IntegrationTests.Client.Hostile;

/// <summary>A metadata node's sync API that says whatever <see cref="HostileWorld"/> tells it to (other calls: UNIMPLEMENTED).</summary>
internal sealed class HostileSyncService(HostileWorld world) : SyncService.SyncBase
{
    public override Task<GetAccountResponse> GetAccount(GetAccountRequest request, ServerCallContext context) =>
        Task.FromResult(new GetAccountResponse { User = "mallory", NamespaceId = "ns-evil", Cursor = "c1" });

    public override Task<ListFilesResponse> ListFiles(ListFilesRequest request, ServerCallContext context)
    {
        world.CountListFiles();
        if (world.ListFiles is { } custom)
        {
            return Task.FromResult(custom(request));
        }

        var response = new ListFilesResponse { Cursor = "c1" };
        response.Entries.AddRange(world.Listing.Where(e => request.IncludeDeleted || !e.Deleted));
        return Task.FromResult(response);
    }

    public override async Task<CommitFilesResponse> CommitFiles(CommitFilesRequest request, ServerCallContext context)
    {
        if (!world.Hang)
        {
            throw new RpcException(new Status(StatusCode.Unimplemented, "no commits here"));
        }

        await HoldAsync(context);
        throw new RpcException(new Status(StatusCode.Internal, "unreachable"));
    }

    public override async Task<ListChangesResponse> ListChanges(ListChangesRequest request, ServerCallContext context)
    {
        if (world.Hang)
        {
            await HoldAsync(context);
        }

        world.CountListChanges();
        world.CursorsAsked.Enqueue(request.Cursor);
        return world.ListChanges?.Invoke(request) ?? new ListChangesResponse { Cursor = request.Cursor };
    }

    /// <summary>Holds the call until the client ends it (its deadline or cancellation); bounded so a test never hangs.</summary>
    private async Task HoldAsync(ServerCallContext context)
    {
        try
        {
            await Task.Delay(TimeSpan.FromMinutes(5), context.CancellationToken);
        }
        catch (OperationCanceledException)
        {
            world.CountHung();
            throw;
        }
    }

    public override Task<PlanUploadResponse> PlanUpload(PlanUploadRequest request, ServerCallContext context) =>
        world.PlanUpload is { } plan ? Task.FromResult(plan(request)) : throw new RpcException(new Status(StatusCode.Unimplemented, "no uploads here"));

    public override Task<PlanUploadsResponse> PlanUploads(PlanUploadsRequest request, ServerCallContext context)
    {
        // An older server: no batch plan (counted, so a test can see how often the client still tries it).
        world.CountPlanUploads();
        throw new RpcException(new Status(StatusCode.Unimplemented, "Method is unimplemented."));
    }

    public override Task<GetDownloadPlanResponse> GetDownloadPlan(GetDownloadPlanRequest request, ServerCallContext context)
    {
        world.OnDownloadPlan?.Invoke(request.Path);
        return world.Plans.TryGetValue(request.Path, out var plan)
            ? Task.FromResult(plan)
            : throw new RpcException(new Status(StatusCode.NotFound, $"no such file '{request.Path}'"));
    }
}
