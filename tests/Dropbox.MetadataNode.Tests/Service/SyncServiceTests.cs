using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tokens;
using Grpc.Core;

namespace Dropbox.MetadataNode.Tests.Service;

/// <summary>The sync and cluster APIs through real Kestrel and real gRPC clients.</summary>
public sealed class SyncServiceTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task UploadCommitDownload_RoundTrip_HandsOutValidTokens()
    {
        await using var server = await MetadataServer.StartAsync();
        var (alice, client) = server.AddUser("alice");
        var c1 = MetadataServer.Chunk(1);
        var c2 = MetadataServer.Chunk(2);

        var plan = await client.PlanUploadAsync(new PlanUploadRequest { Path = "docs/a.txt", Size = 2000, Chunks = { c1, c2 } });
        Assert.Equal(2, plan.Missing.Count);
        Assert.All(plan.Missing, m => Assert.Equal(server.Node.Url, m.Node.GrpcUrl));
        await server.UploadAsync(plan, [c1, c2], alice.Namespace.Value);
        var commit = await client.CommitFileAsync(new CommitFileRequest { Path = "docs/a.txt", Size = 2000, Chunks = { c1, c2 }, Device = "laptop" });
        var download = await client.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = "docs/a.txt" });

        Assert.Equal(1UL, commit.Sequence);
        Assert.Equal("laptop", commit.Entry.ModifiedBy);
        Assert.Equal([c1.Id, c2.Id], download.Chunks.Select(c => c.Chunk.Id));
        foreach (var get in download.Chunks)
        {
            Assert.Equal(server.Node.NodeId, get.Nodes[0].NodeId);
            var token = server.Tokens.Validate(get.Tokens[0], TokenOperation.Get, server.Node.NodeId, get.Chunk.Id.ToChunkId());
            Assert.Equal(alice.Namespace.Value, token.Namespace);
        }

        var again = await client.PlanUploadAsync(new PlanUploadRequest { Path = "docs/b.txt", Size = 2000, Chunks = { c1, c2 } });
        Assert.Empty(again.Missing);
        server.AssertNoErrorsLogged();
    }

    [Fact]
    public async Task Users_AreIsolated_NoFilesListsDownloadsOrCursorsAcross()
    {
        await using var server = await MetadataServer.StartAsync();
        var (alice, aliceClient) = server.AddUser("alice");
        var (_, bobClient) = server.AddUser("bob");
        var c1 = MetadataServer.Chunk(1);
        await server.PutFileAsync(aliceClient, alice, "secret.txt", 0, c1);
        var aliceCursor = (await aliceClient.ListChangesAsync(new ListChangesRequest())).Cursor;

        var bobList = await bobClient.ListFilesAsync(new ListFilesRequest { IncludeDeleted = true });
        var bobChanges = await bobClient.ListChangesAsync(new ListChangesRequest());
        var download = await Assert.ThrowsAsync<RpcException>(() => bobClient.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = "secret.txt" }).ResponseAsync);
        var versions = await Assert.ThrowsAsync<RpcException>(() => bobClient.ListVersionsAsync(new ListVersionsRequest { Path = "secret.txt" }).ResponseAsync);
        var cursor = await Assert.ThrowsAsync<RpcException>(() => bobClient.ListChangesAsync(new ListChangesRequest { Cursor = aliceCursor }).ResponseAsync);
        var bobPlan = await bobClient.PlanUploadAsync(new PlanUploadRequest { Path = "mine.txt", Size = 1000, Chunks = { c1 } });

        Assert.Empty(bobList.Entries);
        Assert.Empty(bobChanges.Changes);
        Assert.Equal(StatusCode.NotFound, download.StatusCode);
        Assert.Equal(StatusCode.NotFound, versions.StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, cursor.StatusCode);
        Assert.Contains("Reset", cursor.Status.Detail);
        Assert.Single(bobPlan.Missing); // alice holds c1, but bob is still asked: no existence leak
        server.AssertNoErrorsLogged();
    }

    [Fact]
    public async Task MissingOrBadToken_IsUnauthenticated()
    {
        await using var server = await MetadataServer.StartAsync();
        server.AddUser("alice");

        var none = await Assert.ThrowsAsync<RpcException>(() => server.SyncClient(null).GetAccountAsync(new GetAccountRequest()).ResponseAsync);
        var bad = await Assert.ThrowsAsync<RpcException>(() => server.SyncClient("forged").GetAccountAsync(new GetAccountRequest()).ResponseAsync);
        var userAsNode = await Assert.ThrowsAsync<RpcException>(() => server.Cluster("forged").HeartbeatAsync(new HeartbeatRequest { NodeId = "node-1" }).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, none.StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, bad.StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, userAsNode.StatusCode);
    }

    [Fact]
    public async Task Commit_UnverifiedChunks_IsRefusedWithMissingIdsInTrailer()
    {
        await using var server = await MetadataServer.StartAsync();
        var (alice, client) = server.AddUser("alice");
        var c1 = MetadataServer.Chunk(1);
        var c2 = MetadataServer.Chunk(2);
        var plan = await client.PlanUploadAsync(new PlanUploadRequest { Path = "a", Size = 1000, Chunks = { c1 } });
        await server.UploadAsync(plan, [c1], alice.Namespace.Value);

        var ex = await Assert.ThrowsAsync<RpcException>(() => client.CommitFileAsync(new CommitFileRequest { Path = "a", Size = 2000, Chunks = { c1, c2 } }).ResponseAsync);

        Assert.Equal(StatusCode.NotFound, ex.StatusCode);
        Assert.Equal(c2.Id.ToChunkId().ToString(), ex.Trailers.GetValue("missing-chunks"));
        Assert.Empty((await client.ListChangesAsync(new ListChangesRequest())).Changes);

        var plan2 = await client.PlanUploadAsync(new PlanUploadRequest { Path = "a", Size = 2000, Chunks = { c1, c2 } });
        Assert.Equal([c2.Id], plan2.Missing.Select(m => m.ChunkId));
        await server.UploadAsync(plan2, [c2], alice.Namespace.Value);
        var ok = await client.CommitFileAsync(new CommitFileRequest { Path = "a", Size = 2000, Chunks = { c1, c2 } });
        Assert.Equal(1UL, ok.Sequence);
        server.AssertNoErrorsLogged();
    }

    [Fact]
    public async Task Commit_StaleBase_IsFailedPreconditionWithCurrentVersionTrailer()
    {
        await using var server = await MetadataServer.StartAsync();
        var (alice, client) = server.AddUser("alice");
        var v1 = await server.PutFileAsync(client, alice, "a", 0, MetadataServer.Chunk(1));
        var v2 = await server.PutFileAsync(client, alice, "a", v1.Sequence, MetadataServer.Chunk(2));

        var ex = await Assert.ThrowsAsync<RpcException>(() => server.PutFileAsync(client, alice, "a", v1.Sequence, MetadataServer.Chunk(3)));

        Assert.Equal(StatusCode.FailedPrecondition, ex.StatusCode);
        Assert.Equal(v2.Sequence.ToString(), ex.Trailers.GetValue("current-version"));
    }

    [Fact]
    public async Task ListChanges_LongPoll_SeesCommitOfAnotherClient()
    {
        await using var server = await MetadataServer.StartAsync();
        var (alice, token) = server.Store.AddUser("alice");
        var writer = server.SyncClient(token);
        var (reader, readerChannel) = server.SeparateClient(token); // another device of the same account
        using var _ = readerChannel;
        var head = (await reader.ListChangesAsync(new ListChangesRequest())).Cursor;

        var poll = reader.ListChangesAsync(new ListChangesRequest { Cursor = head, WaitSeconds = 60 }).ResponseAsync;
        await server.PutFileAsync(writer, alice, "a", 0, MetadataServer.Chunk(1));
        var response = await poll.WaitAsync(Timeout);

        Assert.Equal(["a"], response.Changes.Select(c => c.Entry.Path));
        var empty = await reader.ListChangesAsync(new ListChangesRequest { Cursor = response.Cursor, WaitSeconds = 1 });
        Assert.Empty(empty.Changes);
        Assert.Equal(response.Cursor, empty.Cursor);
    }

    [Fact]
    public async Task BadInputs_AreInvalidArgument_AndChangeNothing()
    {
        await using var server = await MetadataServer.StartAsync();
        var (_, client) = server.AddUser("alice");
        var c1 = MetadataServer.Chunk(1);
        var badId = c1.Clone();
        badId.Id = Google.Protobuf.ByteString.CopyFrom(new byte[3]);

        var requests = new Func<Task>[]
        {
            () => client.CommitFileAsync(new CommitFileRequest { Path = "../x", Size = 1000, Chunks = { c1 } }).ResponseAsync,
            () => client.CommitFileAsync(new CommitFileRequest { Path = "a", Size = 5, Chunks = { c1 } }).ResponseAsync,
            () => client.PlanUploadAsync(new PlanUploadRequest { Path = "a", Size = 1000, Chunks = { badId } }).ResponseAsync,
            () => client.PlanUploadAsync(new PlanUploadRequest { Path = "/abs", Size = 1000, Chunks = { c1 } }).ResponseAsync,
            () => client.MoveFileAsync(new MoveFileRequest { FromPath = "a", ToPath = "a\\b" }).ResponseAsync,
            () => client.ListChangesAsync(new ListChangesRequest { Cursor = "@@@" }).ResponseAsync,
            () => client.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = "" }).ResponseAsync,
            () => client.CreateFolderAsync(new CreateFolderRequest { Path = "x//y" }).ResponseAsync,
        };

        foreach (var request in requests)
        {
            var ex = await Assert.ThrowsAsync<RpcException>(request);
            Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
            Assert.False(string.IsNullOrWhiteSpace(ex.Status.Detail));
        }

        var account = await client.GetAccountAsync(new GetAccountRequest());
        Assert.Equal(0UL, Dropbox.Shared.Sync.ChangeCursor.Parse(account.Cursor).Sequence);
        server.AssertNoErrorsLogged();
    }

    [Fact]
    public async Task OutOfRangeValues_AreInvalidArgumentNamingTheField_AndChangeNothing()
    {
        await using var server = await MetadataServer.StartAsync();
        var (alice, client) = server.AddUser("alice");
        var c1 = MetadataServer.Chunk(1);
        var plan = await client.PlanUploadAsync(new PlanUploadRequest { Path = "ok", Size = 1000, Chunks = { c1 } });
        await server.UploadAsync(plan, [c1], alice.Namespace.Value);
        var badEncoding = new ReportChunksStoredRequest { NodeId = server.Node.NodeId, Chunks = { new StoredChunk { ChunkId = c1.Id, Size = 1000, StoredSize = 1000, Encoding = (Dropbox.Shared.Protos.Common.ChunkEncoding)99 } } };

        var requests = new (string Field, Func<Task> Call)[]
        {
            ("mtime_unix_ms", () => client.PlanUploadAsync(new PlanUploadRequest { Path = "a", Size = 1000, MtimeUnixMs = long.MinValue, Chunks = { c1 } }).ResponseAsync),
            ("mtime_unix_ms", () => client.CommitFileAsync(new CommitFileRequest { Path = "a", Size = 1000, MtimeUnixMs = long.MinValue, Chunks = { c1 } }).ResponseAsync),
            ("mtime_unix_ms", () => client.CommitFileAsync(new CommitFileRequest { Path = "a", Size = 1000, MtimeUnixMs = long.MaxValue, Chunks = { c1 } }).ResponseAsync),
            ("File #1: mtime_unix_ms", () => client.CommitFilesAsync(new CommitFilesRequest { Files = { new CommitFileRequest { Path = "b", Size = 1000, Chunks = { c1 } }, new CommitFileRequest { Path = "a", Size = 1000, MtimeUnixMs = 253_402_300_800_000, Chunks = { c1 } } } }).ResponseAsync),
            ("start_after", () => client.ListFilesAsync(new ListFilesRequest { Limit = 10, StartAfter = new string('a', 5000) }).ResponseAsync),
            ("encoding", () => server.Cluster().ReportChunksStoredAsync(badEncoding).ResponseAsync),
        };

        foreach (var (field, call) in requests)
        {
            var ex = await Assert.ThrowsAsync<RpcException>(call);
            Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
            Assert.Contains(field, ex.Status.Detail);
        }

        // The extremes of the range are fine.
        await client.CommitFileAsync(new CommitFileRequest { Path = "ok", Size = 1000, MtimeUnixMs = -62_135_596_800_000, Chunks = { c1 } });
        Assert.Equal(1UL, (await client.GetAccountAsync(new GetAccountRequest())).FileCount);
        Assert.Single((await client.ListChangesAsync(new ListChangesRequest())).Changes);
        server.AssertNoErrorsLogged();
    }

    [Fact]
    public async Task VersionsRestoreDeleteMove_ThroughGrpc()
    {
        await using var server = await MetadataServer.StartAsync();
        var (alice, client) = server.AddUser("alice");
        var v1 = await server.PutFileAsync(client, alice, "a", 0, MetadataServer.Chunk(1));
        var v2 = await server.PutFileAsync(client, alice, "a", v1.Sequence, MetadataServer.Chunk(2));

        var moved = await client.MoveFileAsync(new MoveFileRequest { FromPath = "a", ToPath = "b", BaseVersion = v2.Sequence });
        var deleted = await client.DeleteFileAsync(new DeleteFileRequest { Path = "b" });
        var restored = await client.RestoreAsync(new RestoreRequest { Path = "a", Version = v1.Sequence });
        var versions = await client.ListVersionsAsync(new ListVersionsRequest { Path = "a" });
        var files = await client.ListFilesAsync(new ListFilesRequest());

        Assert.Equal("b", moved.Entry.Path);
        Assert.Equal(moved.Sequence + 1, deleted.Sequence);
        Assert.Equal(v1.Entry.ContentHash, restored.Entry.ContentHash);
        Assert.Equal([restored.Sequence, moved.Sequence, v2.Sequence, v1.Sequence], versions.Versions.Select(v => v.Version));
        Assert.Equal(["a"], files.Entries.Select(e => e.Path));
        var page1 = await client.ListFilesAsync(new ListFilesRequest { IncludeDeleted = true, Limit = 1 });
        var page2 = await client.ListFilesAsync(new ListFilesRequest { IncludeDeleted = true, Limit = 1, StartAfter = page1.Entries[^1].Path });
        Assert.Equal(["a"], page1.Entries.Select(e => e.Path));
        Assert.True(page1.HasMore);
        Assert.Equal(["b"], page2.Entries.Select(e => e.Path));
        Assert.True(page2.Entries[0].Deleted);
        Assert.False(page2.HasMore);
        var oldVersion = await client.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = "a", Version = v2.Sequence });
        Assert.Equal(MetadataServer.Chunk(2).Id, oldVersion.Chunks[0].Chunk.Id);
        server.AssertNoErrorsLogged();
    }

    [Fact]
    public async Task Cluster_HeartbeatOfUnknownNode_IsNotFound_AndReportNeedsRegistration()
    {
        await using var server = await MetadataServer.StartAsync();

        var ex = await Assert.ThrowsAsync<RpcException>(() => server.Cluster().HeartbeatAsync(new HeartbeatRequest { NodeId = "ghost" }).ResponseAsync);
        await server.Cluster().HeartbeatAsync(new HeartbeatRequest { NodeId = server.Node.NodeId, UsedBytes = 5 });

        Assert.Equal(StatusCode.NotFound, ex.StatusCode);
    }

    [Fact]
    public async Task Healthz_AnswersOk()
    {
        await using var server = await MetadataServer.StartAsync();
        using var http = new HttpClient { DefaultRequestVersion = System.Net.HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };

        var body = await http.GetStringAsync(server.Url + "/healthz");

        Assert.Equal("ok", body);
    }
}
