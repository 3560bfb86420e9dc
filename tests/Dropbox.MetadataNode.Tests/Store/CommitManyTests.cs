using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Grpc.Core;

namespace Dropbox.MetadataNode.Tests.Store;

public sealed class CommitManyTests
{
    [Fact]
    public async Task CommitMany_JudgesEachFileOnItsOwn_AndCommitsTheRestAtomically()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var v1 = await h.PutFileAsync(alice, "existing", 0, StoreHarness.Chunk(1));
        await h.Store.CreateFolderAsync(alice, "folder", "t");
        var stored = StoreHarness.Chunk(2);
        var notStored = StoreHarness.Chunk(3);
        h.Stored(alice, stored);

        var response = SyncMapping.ToResponse(await h.Store.CommitManyAsync(alice,
        [
            StoreHarness.Upload("new-1", 0, stored),
            StoreHarness.Upload("existing", 0, stored),          // stale base: conflict
            StoreHarness.Upload("missing", 0, notStored),        // chunk never stored
            StoreHarness.Upload("folder", 0, stored),            // a folder is in the way
            StoreHarness.Upload("new-2", 0, stored),
            StoreHarness.Upload("new-2", 0, StoreHarness.Chunk(1)), // same path again, now stale
        ], CancellationToken.None));

        var codes = response.Results.Select(r => (StatusCode)r.StatusCode).ToList();
        Assert.Equal([StatusCode.OK, StatusCode.FailedPrecondition, StatusCode.NotFound, StatusCode.AlreadyExists, StatusCode.OK, StatusCode.FailedPrecondition], codes);
        Assert.Equal(v1.Sequence, response.Results[1].CurrentVersion);
        Assert.Equal([notStored.Id], response.Results[2].MissingChunkIds.Select(b => b.ToChunkId()));
        Assert.Equal(response.Results[0].Committed.Sequence + 1, response.Results[4].Committed.Sequence);
        Assert.Equal(3UL, h.Store.GetAccount(alice).FileCount);
        h.AssertConsistent();
    }

    [Fact]
    public async Task CommitMany_TooManyFiles_IsResourceExhaustedNamingTheLimit()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var uploads = Enumerable.Range(0, Domain.Limits.MaxFilesPerBatch + 1).Select(i => StoreHarness.Upload($"f{i}", 0)).ToList();

        var ex = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitManyAsync(alice, uploads, CancellationToken.None));

        Assert.Equal(ErrorKind.ResourceExhausted, ex.Kind);
        Assert.Contains($"MaxFilesPerBatch = {Domain.Limits.MaxFilesPerBatch}", ex.Message);
    }

    [Fact]
    public async Task CommitFiles_ThroughGrpc_MalformedFileRefusesTheWholeCall()
    {
        await using var server = await MetadataServer.StartAsync();
        var (alice, client) = server.AddUser("alice");
        var c1 = MetadataServer.Chunk(1);
        var plan = await client.PlanUploadAsync(new PlanUploadRequest { Path = "a", Size = 1000, Chunks = { c1 } });
        await server.UploadAsync(plan, [c1], alice.Namespace.Value);

        var bad = await Assert.ThrowsAsync<RpcException>(() => client.CommitFilesAsync(new CommitFilesRequest
        {
            Files = { new CommitFileRequest { Path = "a", Size = 1000, Chunks = { c1 } }, new CommitFileRequest { Path = "../b", Size = 1000, Chunks = { c1 } } },
        }).ResponseAsync);
        var ok = await client.CommitFilesAsync(new CommitFilesRequest
        {
            Files = { new CommitFileRequest { Path = "a", Size = 1000, Chunks = { c1 } }, new CommitFileRequest { Path = "b", Size = 1000, Chunks = { c1 } } },
        });

        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.Contains("File #1", bad.Status.Detail);
        Assert.Equal([1UL, 2UL], ok.Results.Select(r => r.Committed.Sequence));
        Assert.Equal(2, (await client.ListChangesAsync(new ListChangesRequest())).Changes.Count);
        server.AssertNoErrorsLogged();
    }
}
