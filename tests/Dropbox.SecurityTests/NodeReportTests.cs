using Dropbox.MetadataNode.Services;
using Dropbox.SecurityTests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Grpc.Core;

namespace Dropbox.SecurityTests;

/// <summary>
/// ReportChunksCorrupt removes copies, so a node may report only its own: a report naming another node, or made with a
/// plain system token, is refused and leaves every holder listed.
/// </summary>
public sealed class NodeReportTests(ApplianceFixture fixture) : IClassFixture<ApplianceFixture>
{
    private readonly Appliance _app = fixture.Appliance;
    private readonly (int, int) _logMark = fixture.Appliance.LogMark();

    [Fact]
    public async Task A_corrupt_report_naming_another_node_or_made_with_a_system_token_is_refused_and_changes_nothing()
    {
        var file = await _app.UploadAsync(_app.Alice, "report/held.bin", Appliance.Content(4401, 30_000), pieceSize: 10_000);
        var ids = file.Chunks.Select(c => c.Id).ToList();
        var asOther = _app.KeyRing.IssueNodeReport("storage-2", CallAuthenticator.MetadataNodeId, TimeSpan.FromMinutes(5));

        var named = await Expect.RefusedAsync(() => _app.Cluster(asOther).ReportChunksCorruptAsync(new ReportChunksCorruptRequest { NodeId = Appliance.StorageNodeId, ChunkIds = { ids } }).ResponseAsync, StatusCode.PermissionDenied);
        Assert.Contains("own chunks", named.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("storage-2", named.Status.Detail, StringComparison.Ordinal);
        await Expect.RefusedAsync(() => _app.Cluster(_app.MetadataSystemToken()).ReportChunksCorruptAsync(new ReportChunksCorruptRequest { NodeId = Appliance.StorageNodeId, ChunkIds = { ids } }).ResponseAsync, StatusCode.PermissionDenied);
        var nodeScoped = _app.KeyRing.IssueNodeReport(Appliance.StorageNodeId, Appliance.StorageNodeId, TimeSpan.FromMinutes(5));
        await Expect.RefusedAsync(() => _app.Cluster(nodeScoped).ReportChunksCorruptAsync(new ReportChunksCorruptRequest { NodeId = Appliance.StorageNodeId, ChunkIds = { ids } }).ResponseAsync, StatusCode.PermissionDenied);

        // Nothing changed: storage-1 is still the holder every chunk is planned from.
        var plan = await _app.Sync(_app.Alice).GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = file.Entry.Path });
        Assert.Equal(ids.Count, plan.Chunks.Count);
        Assert.All(plan.Chunks, c => Assert.NotEmpty(c.Tokens));

        // The node's own report token is taken (a chunk it does not hold: a no-op).
        var own = _app.KeyRing.IssueNodeReport(Appliance.StorageNodeId, CallAuthenticator.MetadataNodeId, TimeSpan.FromMinutes(5));
        var stranger = ChunkId.Compute(Appliance.Content(4402, 64)).ToByteString();
        var answer = await _app.Cluster(own).ReportChunksCorruptAsync(new ReportChunksCorruptRequest { NodeId = Appliance.StorageNodeId, ChunkIds = { stranger } });
        Assert.Equal(0u, answer.Repairable + answer.Lost);
        _app.AssertNoUnhandledExceptions(_logMark);
    }
}
