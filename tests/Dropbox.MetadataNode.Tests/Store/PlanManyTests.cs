using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tokens;
using Grpc.Core;

namespace Dropbox.MetadataNode.Tests.Store;

public sealed class PlanManyTests
{
    private static ChunkRef[] Chunks(int from, int count) => Enumerable.Range(from, count).Select(i => StoreHarness.Chunk(i, 10)).ToArray();

    [Fact]
    public async Task PlanMany_AnswersEachFileAsPlanUploadWould_AndSignsAChunkNamedTwiceOnce()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var held = StoreHarness.Chunk(1);
        var v1 = await h.PutFileAsync(alice, "existing", 0, held);
        var shared = StoreHarness.Chunk(2);
        var own = StoreHarness.Chunk(3);

        var plans = h.Store.PlanMany(alice,
        [
            StoreHarness.Upload("a", 0, shared, held),
            StoreHarness.Upload("existing", 0, own),             // stale base: conflict
            StoreHarness.Upload("b", 0, shared, shared, own),
        ]);

        Assert.Equal([shared.Id], plans[0].Missing.Select(m => m.ChunkId));
        Assert.False(plans[0].Conflict);
        Assert.True(plans[1].Conflict);
        Assert.Equal(v1.Sequence, plans[1].CurrentVersion);
        Assert.Equal([own.Id], plans[1].Missing.Select(m => m.ChunkId));
        Assert.Equal([shared.Id, own.Id], plans[2].Missing.Select(m => m.ChunkId));
        Assert.Equal(plans[0].Missing[0].Token, plans[2].Missing[0].Token); // one signature per chunk and node
        Assert.Equal(2, h.Store.PendingPutCount(alice));

        // Each file alone gets the same answer from PlanUpload (tokens differ only by their signing time).
        for (var i = 0; i < 3; i++)
        {
            var upload = new[] { StoreHarness.Upload("a", 0, shared, held), StoreHarness.Upload("existing", 0, own), StoreHarness.Upload("b", 0, shared, shared, own) }[i];
            var alone = h.Store.PlanUpload(alice, upload);
            Assert.Equal(alone.Conflict, plans[i].Conflict);
            Assert.Equal(alone.CurrentVersion, plans[i].CurrentVersion);
            Assert.Equal(alone.Missing.Select(m => (m.ChunkId, m.Node)), plans[i].Missing.Select(m => (m.ChunkId, m.Node)));
        }
    }

    [Fact]
    public void PlanMany_SignsOnePutTokenPerRunOfChunksForANode_CoveringExactlyThoseChunks()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var n = UploadPlanner.ChunksPerSharedToken + 3;
        var uploads = Enumerable.Range(0, n).Select(i => StoreHarness.Upload($"f{i}", 0, StoreHarness.Chunk(100 + i, 10))).ToArray();

        var plans = h.Store.PlanMany(alice, uploads);

        var puts = plans.SelectMany(p => p.Missing).ToList();
        Assert.Equal(n, puts.Count);
        var byToken = puts.GroupBy(p => p.Token).ToList();
        Assert.Equal([UploadPlanner.ChunksPerSharedToken, 3], byToken.Select(g => g.Count()));
        foreach (var group in byToken)
        {
            var token = h.Tokens.Read(group.Key);
            Assert.Equal(TokenOperation.Put, token.Operation);
            Assert.Equal(group.First().Node.NodeId, token.NodeId);
            Assert.Equal(group.Select(p => p.ChunkId), token.ChunkIds);
        }
    }

    [Fact]
    public void PlanMany_AfterACrashBetweenPutAndCommit_AsksOnlyForWhatWasNotStored()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var uploads = new[] { StoreHarness.Upload("a", 0, Chunks(0, 3)), StoreHarness.Upload("b", 0, Chunks(3, 3)) };
        var first = h.Store.PlanMany(alice, uploads);
        Assert.Equal([3, 3], first.Select(p => p.Missing.Count));
        h.Stored(alice, [.. Chunks(0, 2), .. Chunks(3, 3)]); // the client died with one put still to make

        var again = h.Store.PlanMany(alice, uploads);

        Assert.Equal([Chunks(2, 1)[0].Id], again[0].Missing.Select(m => m.ChunkId));
        Assert.Empty(again[1].Missing);
    }

    [Fact]
    public void PlanMany_PastThePendingPutsBound_IsRefusedWhole_AndNotesNothing()
    {
        const int limit = 100;
        using var h = new StoreHarness(o => o with { MaxPendingPutsPerUser = limit });
        var (alice, _) = h.Store.AddUser("alice");
        Assert.Equal(60, h.Store.PlanUpload(alice, StoreHarness.Upload("first", 0, Chunks(0, 60))).Missing.Count);

        // 30 + 30 new chunks: each file alone would fit, the call as a whole does not.
        var over = Assert.Throws<DropboxException>(() => h.Store.PlanMany(alice,
        [
            StoreHarness.Upload("a", 0, Chunks(100, 30)),
            StoreHarness.Upload("b", 0, Chunks(200, 30)),
        ]));

        Assert.Equal(ErrorKind.ResourceExhausted, over.Kind);
        Assert.Contains($"MaxPendingPutsPerUser = {limit}", over.Message);
        Assert.Equal(60, h.Store.PendingPutCount(alice));
        Assert.Equal(30, h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, Chunks(100, 30))).Missing.Count);
    }

    [Fact]
    public void PlanMany_TooManyFiles_IsResourceExhaustedNamingTheLimit_AndNotesNothing()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var uploads = Enumerable.Range(0, Domain.Limits.MaxFilesPerBatch + 1).Select(i => StoreHarness.Upload($"f{i}", 0, StoreHarness.Chunk(i, 10))).ToList();

        var ex = Assert.Throws<DropboxException>(() => h.Store.PlanMany(alice, uploads));

        Assert.Equal(ErrorKind.ResourceExhausted, ex.Kind);
        Assert.Contains($"MaxFilesPerBatch = {Domain.Limits.MaxFilesPerBatch}", ex.Message);
        Assert.Equal(0, h.Store.PendingPutCount(alice));
    }

    [Fact]
    public async Task PlanUploads_ThroughGrpc_MalformedFileRefusesTheWholeCall_AndAGoodCallPlansEveryFile()
    {
        await using var server = await MetadataServer.StartAsync();
        var (alice, client) = server.AddUser("alice");
        var c1 = MetadataServer.Chunk(1);
        var c2 = MetadataServer.Chunk(2);

        var bad = await Assert.ThrowsAsync<RpcException>(() => client.PlanUploadsAsync(new PlanUploadsRequest
        {
            Files = { new PlanUploadRequest { Path = "a", Size = 1000, Chunks = { c1 } }, new PlanUploadRequest { Path = "../b", Size = 1000, Chunks = { c2 } } },
        }).ResponseAsync);
        var pendingAfterBad = server.Store.PendingPutCount(alice);
        var ok = await client.PlanUploadsAsync(new PlanUploadsRequest
        {
            Files = { new PlanUploadRequest { Path = "a", Size = 1000, Chunks = { c1 } }, new PlanUploadRequest { Path = "b", Size = 1000, Chunks = { c2 } } },
        });

        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.Contains("File #1", bad.Status.Detail);
        Assert.Equal(0, pendingAfterBad);
        Assert.Equal(2, ok.Results.Count);
        Assert.Equal([c1.Id], ok.Results[0].Missing.Select(m => m.ChunkId));
        Assert.Equal([c2.Id], ok.Results[1].Missing.Select(m => m.ChunkId));
        server.AssertNoErrorsLogged();
    }
}
