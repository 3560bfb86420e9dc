using Dropbox.SecurityTests.Infrastructure;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Protos.Storage;
using Google.Protobuf;
using Grpc.Core;

namespace Dropbox.SecurityTests;

/// <summary>
/// Bob, a valid user, tries every metadata call on alice's paths, versions, cursors, chunk ids and tokens. Each attempt is
/// refused or lands in bob's own namespace, and no answer carries alice's data.
/// </summary>
public sealed class CrossUserTests(ApplianceFixture fixture) : IClassFixture<ApplianceFixture>
{
    private readonly Appliance _app = fixture.Appliance;
    private readonly (int, int) _logMark = fixture.Appliance.LogMark();

    private async Task<StoredFile> AliceFileAsync(string name, int seed) =>
        await _app.UploadAsync(_app.Alice, $"cross/{name}", Appliance.Content(seed, 150_000));

    [Fact]
    public async Task Bob_cannot_get_a_download_plan_for_alices_path_or_version()
    {
        var file = await AliceFileAsync("plan.bin", 101);
        var bob = _app.Sync(_app.Bob);

        var current = await Expect.RefusedAsync(() => bob.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = file.Entry.Path }).ResponseAsync, StatusCode.NotFound);
        var byVersion = await Expect.RefusedAsync(() => bob.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = file.Entry.Path, Version = file.Entry.Version }).ResponseAsync, StatusCode.NotFound);

        foreach (var e in new[] { current, byVersion })
        {
            foreach (var chunk in file.Chunks)
            {
                Assert.DoesNotContain(Convert.ToHexStringLower(chunk.Id.Span), e.Status.Detail, StringComparison.OrdinalIgnoreCase);
            }
        }

        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task Bob_sees_no_history_of_alices_path_and_cannot_restore_or_delete_or_move_it()
    {
        var file = await AliceFileAsync("history.bin", 102);
        var bob = _app.Sync(_app.Bob);

        var versionsStatus = await Expect.StatusOfAsync(async () =>
        {
            var versions = await bob.ListVersionsAsync(new ListVersionsRequest { Path = file.Entry.Path });
            Assert.Empty(versions.Versions);
        });
        Assert.Contains(versionsStatus, new[] { StatusCode.OK, StatusCode.NotFound });
        await Expect.RefusedAsync(() => bob.RestoreAsync(new RestoreRequest { Path = file.Entry.Path, Version = file.Entry.Version }).ResponseAsync, StatusCode.NotFound);
        await Expect.RefusedAsync(() => bob.RestoreAsync(new RestoreRequest { Path = file.Entry.Path }).ResponseAsync, StatusCode.NotFound);
        await Expect.RefusedAsync(() => bob.MoveFileAsync(new MoveFileRequest { FromPath = file.Entry.Path, ToPath = "cross/stolen.bin" }).ResponseAsync, StatusCode.NotFound);
        var delete = await Expect.StatusOfAsync(() => bob.DeleteFileAsync(new DeleteFileRequest { Path = file.Entry.Path, BaseVersion = file.Entry.Version }).ResponseAsync);
        Assert.Contains(delete, new[] { StatusCode.NotFound, StatusCode.FailedPrecondition });

        // Alice's file is untouched and bob's namespace holds nothing of hers.
        var alicePlan = await _app.Sync(_app.Alice).GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = file.Entry.Path });
        Assert.Equal(file.Entry.Version, alicePlan.Entry.Version);
        var bobFiles = await bob.ListFilesAsync(new ListFilesRequest { IncludeDeleted = true });
        Assert.DoesNotContain(bobFiles.Entries, e => e.Path.StartsWith("cross/", StringComparison.Ordinal) && e.Chunks.Any(c => file.Chunks.Any(a => a.Id == c.Id)));
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task Bob_planning_and_committing_at_alices_path_with_her_version_lands_in_his_own_namespace()
    {
        var file = await AliceFileAsync("same-path.bin", 110);
        var content = Appliance.Content(111, 5_000);

        var (chunks, _) = Appliance.Cut(content);
        var plan = await _app.Sync(_app.Bob).PlanUploadAsync(new PlanUploadRequest { Path = file.Entry.Path, Size = 5_000, BaseVersion = file.Entry.Version, Chunks = { chunks } });
        var bobs = await _app.UploadAsync(_app.Bob, file.Entry.Path, content);

        Assert.Equal(0UL, plan.CurrentVersion); // nothing of alice's version shows through
        Assert.NotEqual(file.Entry.ContentHash, bobs.Entry.ContentHash);
        var alice = await _app.Sync(_app.Alice).GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = file.Entry.Path });
        Assert.Equal(file.Entry.Version, alice.Entry.Version);
        Assert.Equal(file.Entry.ContentHash, alice.Entry.ContentHash);
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task Bob_creating_a_folder_at_alices_path_lands_in_his_own_namespace()
    {
        var file = await AliceFileAsync("folder-clash.bin", 103);
        var bob = _app.Sync(_app.Bob);

        var folder = await bob.CreateFolderAsync(new CreateFolderRequest { Path = file.Entry.Path, Device = "bob" });

        Assert.Equal(EntryKind.Folder, folder.Entry.Kind);
        var alice = await _app.Sync(_app.Alice).GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = file.Entry.Path });
        Assert.Equal(EntryKind.File, alice.Entry.Kind);
        Assert.Equal(file.Entry.Version, alice.Entry.Version);
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task A_cursor_from_alices_feed_gives_bob_none_of_her_changes()
    {
        await AliceFileAsync("feed.bin", 104);
        var aliceAccount = await _app.Sync(_app.Alice).GetAccountAsync(new GetAccountRequest());
        var aliceStart = (await _app.Sync(_app.Alice).ListChangesAsync(new ListChangesRequest())).Cursor;
        var bob = _app.Sync(_app.Bob);

        foreach (var cursor in new[] { aliceAccount.Cursor, aliceStart })
        {
            var e = await Expect.RefusedAsync(() => bob.ListChangesAsync(new ListChangesRequest { Cursor = cursor }).ResponseAsync, StatusCode.InvalidArgument, StatusCode.FailedPrecondition, StatusCode.PermissionDenied);
            Assert.Contains("reset", e.Status.Detail, StringComparison.OrdinalIgnoreCase);
        }

        // A cursor forged from alice's by rewinding it to sequence 0 is refused too.
        var raw = System.Buffers.Text.Base64Url.DecodeFromChars(aliceAccount.Cursor);
        Array.Clear(raw, 1, 8);
        var rewound = System.Buffers.Text.Base64Url.EncodeToString(raw);
        await Expect.RefusedAsync(() => bob.ListChangesAsync(new ListChangesRequest { Cursor = rewound }).ResponseAsync, StatusCode.InvalidArgument, StatusCode.FailedPrecondition, StatusCode.PermissionDenied);
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task Bob_cannot_commit_alices_chunk_ids_without_uploading_them()
    {
        var file = await AliceFileAsync("claim.bin", 105);
        var bob = _app.Sync(_app.Bob);
        var request = new CommitFileRequest { Path = "cross/claimed.bin", Size = file.Entry.Size, Chunks = { file.Chunks }, Device = "bob" };

        var single = await Expect.RefusedAsync(() => bob.CommitFileAsync(request).ResponseAsync, StatusCode.NotFound);
        var batch = await bob.CommitFilesAsync(new CommitFilesRequest { Files = { request } });

        Assert.Equal(file.Chunks.Count, single.Trailers.GetValue("missing-chunks")!.Split(',').Length);
        Assert.Equal((int)StatusCode.NotFound, batch.Results.Single().StatusCode);
        Assert.Equal(file.Chunks.Count, batch.Results.Single().MissingChunkIds.Count);
        await Expect.RefusedAsync(() => bob.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = "cross/claimed.bin" }).ResponseAsync, StatusCode.NotFound);

        // Planning first (getting put tokens) but never putting is no better.
        await bob.PlanUploadAsync(new PlanUploadRequest { Path = "cross/claimed.bin", Size = file.Entry.Size, Chunks = { file.Chunks } });
        await Expect.RefusedAsync(() => bob.CommitFileAsync(request).ResponseAsync, StatusCode.NotFound);
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task Bob_putting_bytes_with_alices_put_token_does_not_let_him_commit_them()
    {
        // Alice plans but has not uploaded yet; bob got hold of her put token (e.g. from a log or a proxy).
        var content = Appliance.Content(106, 100_000);
        var (chunks, pieces) = Appliance.Cut(content);
        var plan = await _app.Sync(_app.Alice).PlanUploadAsync(new PlanUploadRequest { Path = "cross/intercepted.bin", Size = (ulong)content.Length, Chunks = { chunks } });
        foreach (var put in plan.Missing)
        {
            var i = chunks.FindIndex(c => c.Id == put.ChunkId);
            var (status, _) = await _app.HttpPutAsync(put.Node.HttpUrl, put.ChunkId, put.Token, pieces[i]);
            Assert.Equal(201, status);
        }

        var e = await Expect.RefusedAsync(
            () => _app.Sync(_app.Bob).CommitFileAsync(new CommitFileRequest { Path = "cross/intercepted.bin", Size = (ulong)content.Length, Chunks = { chunks } }).ResponseAsync,
            StatusCode.NotFound);
        Assert.Contains("not stored", e.Status.Detail, StringComparison.Ordinal);

        // The bytes counted for alice, whose token it was.
        var commit = await _app.Sync(_app.Alice).CommitFileAsync(new CommitFileRequest { Path = "cross/intercepted.bin", Size = (ulong)content.Length, Chunks = { chunks } });
        Assert.Equal(content.Length, (int)commit.Entry.Size);
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task Alices_put_and_get_tokens_grant_nothing_beyond_their_own_chunks()
    {
        var file = await AliceFileAsync("tokens.bin", 107);
        var other = await AliceFileAsync("tokens-other.bin", 108);
        var plan = await _app.Sync(_app.Alice).GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = file.Entry.Path });
        var getToken = plan.Chunks[0].Tokens[0];
        var node = plan.Chunks[0].Nodes[0];
        var foreignChunk = other.Chunks[0].Id;

        // Her get token on a chunk it does not name: refused over HTTP and gRPC.
        var (httpStatus, body) = await _app.HttpGetAsync(node.HttpUrl, foreignChunk, getToken);
        Assert.Equal(403, httpStatus);
        Assert.NotEqual(other.Pieces[0], body);
        var grpc = _app.Storage();
        await Expect.RefusedAsync(async () =>
        {
            using var call = grpc.GetChunks(new GetChunksRequest { ChunkIds = { foreignChunk }, Token = getToken });
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        }, StatusCode.PermissionDenied);

        // Her get token used as a put token, and as a node credential: refused.
        var (putStatus, _) = await _app.HttpPutAsync(node.HttpUrl, plan.Chunks[0].Chunk.Id, getToken, file.Pieces[0]);
        Assert.Equal(403, putStatus);
        await Expect.RefusedAsync(() => grpc.HasChunksAsync(new HasChunksRequest { ChunkIds = { foreignChunk }, Token = getToken }).ResponseAsync, StatusCode.PermissionDenied, StatusCode.Unauthenticated);
        await Expect.RefusedAsync(() => grpc.DeleteChunksAsync(new DeleteChunksRequest { ChunkIds = { plan.Chunks[0].Chunk.Id }, Token = getToken }).ResponseAsync, StatusCode.PermissionDenied, StatusCode.Unauthenticated);

        // A user's bearer token is no token at the storage node, nor at the cluster API.
        var (userTokenStatus, _) = await _app.HttpGetAsync(node.HttpUrl, plan.Chunks[0].Chunk.Id, _app.Bob.Token);
        Assert.Equal(401, userTokenStatus);
        await Expect.RefusedAsync(() => _app.Cluster(_app.Bob.Token).ReportChunksStoredAsync(new ReportChunksStoredRequest
        {
            NodeId = Appliance.StorageNodeId,
            Chunks = { new StoredChunk { ChunkId = foreignChunk, Size = 1, NamespaceId = _app.Bob.NamespaceId } },
        }).ResponseAsync, StatusCode.Unauthenticated, StatusCode.PermissionDenied);
        await Expect.RefusedAsync(() => _app.Cluster(getToken).HeartbeatAsync(new HeartbeatRequest { NodeId = Appliance.StorageNodeId }).ResponseAsync, StatusCode.Unauthenticated, StatusCode.PermissionDenied);
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task Bobs_listing_account_and_feed_show_nothing_of_alices()
    {
        var file = await AliceFileAsync("listing.bin", 109);
        var bob = _app.Sync(_app.Bob);

        var files = await bob.ListFilesAsync(new ListFilesRequest { IncludeDeleted = true });
        var prefixed = await Expect.StatusOfAsync(async () =>
        {
            var r = await bob.ListFilesAsync(new ListFilesRequest { Prefix = "cross", IncludeDeleted = true });
            Assert.DoesNotContain(r.Entries, e => e.Path == file.Entry.Path);
        });
        var account = await bob.GetAccountAsync(new GetAccountRequest());
        var changes = await bob.ListChangesAsync(new ListChangesRequest { Limit = 10_000 });

        Assert.DoesNotContain(files.Entries, e => e.Path == file.Entry.Path);
        Assert.Contains(prefixed, new[] { StatusCode.OK, StatusCode.NotFound });
        Assert.Equal("bob", account.User);
        Assert.Equal(_app.Bob.NamespaceId, account.NamespaceId);
        Assert.DoesNotContain(changes.Changes, c => c.Entry?.Path == file.Entry.Path && c.Entry.ContentHash == file.Entry.ContentHash);
        _app.AssertNoUnhandledExceptions(_logMark);
    }
}
