using Dropbox.SecurityTests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Protos.Storage;
using Dropbox.Shared.Tokens;
using Google.Protobuf;
using Grpc.Core;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.SecurityTests;

/// <summary>
/// Every way to misuse a chunk token at the storage node (expired, forged, for another chunk, node, operation or
/// namespace, replayed for other bytes) and every maintenance call without a node credential: each is refused with
/// 401/403 (UNAUTHENTICATED/PERMISSION_DENIED) and stores, serves or deletes nothing.
/// </summary>
public sealed class TokenMisuseTests(ApplianceFixture fixture) : IClassFixture<ApplianceFixture>
{
    private readonly Appliance _app = fixture.Appliance;
    private readonly (int, int) _logMark = fixture.Appliance.LogMark();

    /// <summary>Fresh content alice has planned (so she holds a valid put token per chunk) but not uploaded.</summary>
    private async Task<(List<Proto.ChunkRef> Chunks, List<byte[]> Pieces, PlanUploadResponse Plan)> PlannedAsync(string path, int seed, Party? who = null)
    {
        var content = Appliance.Content(seed, 40_000);
        var (chunks, pieces) = Appliance.Cut(content, 10_000);
        var plan = await _app.Sync(who ?? _app.Alice).PlanUploadAsync(new PlanUploadRequest { Path = path, Size = (ulong)content.Length, Chunks = { chunks } });
        Assert.Equal(chunks.Count, plan.Missing.Count);
        return (chunks, pieces, plan);
    }

    private async Task<bool> StoredAsync(ByteString id)
    {
        var answer = await _app.Storage(_app.NodeCredential()).HasChunksAsync(new HasChunksRequest { ChunkIds = { id }, Token = _app.NodeCredential() });
        return answer.Present.Single();
    }

    private async Task<StatusCode> GrpcPutAsync(ByteString id, byte[] bytes, string token)
    {
        var frames = new[]
        {
            new PutChunkRequest { Header = new ChunkHeader { ChunkId = id, Encoding = Proto.ChunkEncoding.Raw, PlainSize = (uint)bytes.Length, StoredSize = (uint)bytes.Length, Token = token } }.ToByteArray(),
            new PutChunkRequest { Data = ByteString.CopyFrom(bytes) }.ToByteArray(),
        };
        var target = new Fuzzing.FuzzTarget(ChunkStorage.Descriptor, ChunkStorage.Descriptor.FindMethodByName("PutChunks"), [], []);
        var status = await Fuzzing.RawCall.SendAsync(_app.StorageChannel.CreateCallInvoker(), target, frames, null, TimeSpan.FromSeconds(30));
        return status.StatusCode;
    }

    private async Task<StatusCode> GrpcGetAsync(ByteString id, string token)
    {
        return await Expect.StatusOfAsync(async () =>
        {
            using var call = _app.Storage().GetChunks(new GetChunksRequest { ChunkIds = { id }, Token = token });
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        });
    }

    private static string FlipBit(string token, int index)
    {
        var chars = token.ToCharArray();
        var i = index % chars.Length;
        chars[i] = chars[i] == 'A' ? 'B' : 'A';
        return new string(chars);
    }

    [Fact]
    public async Task Expired_put_and_get_tokens_are_refused_as_unauthenticated_and_store_nothing()
    {
        var (chunks, pieces, _) = await PlannedAsync("tokens/expired.bin", 201);
        var id = chunks[0].Id;
        var expiredPut = _app.KeyRing.Issue(TokenOperation.Put, _app.Alice.NamespaceId, Appliance.StorageNodeId, [id.ToChunkId()], TimeSpan.FromSeconds(-1));
        var expiredGet = _app.KeyRing.Issue(TokenOperation.Get, _app.Alice.NamespaceId, Appliance.StorageNodeId, [id.ToChunkId()], TimeSpan.FromSeconds(-1));

        var (http, body) = await _app.HttpPutAsync(_app.StorageHttpUrl, id, expiredPut, pieces[0]);
        var grpc = await GrpcPutAsync(id, pieces[0], expiredPut);
        var (httpGet, _) = await _app.HttpGetAsync(_app.StorageHttpUrl, id, expiredGet);
        var grpcGet = await GrpcGetAsync(id, expiredGet);

        Assert.Equal(401, http);
        Assert.Contains("xpired", body, StringComparison.Ordinal);
        Assert.Equal(StatusCode.Unauthenticated, grpc);
        Assert.Equal(401, httpGet);
        Assert.Equal(StatusCode.Unauthenticated, grpcGet);
        Assert.False(await StoredAsync(id));
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task Forged_tokens_bit_flipped_truncated_or_from_another_key_ring_are_refused_and_store_nothing()
    {
        var (chunks, pieces, plan) = await PlannedAsync("tokens/forged.bin", 202);
        var id = chunks[0].Id;
        var token = plan.Missing.First(m => m.ChunkId == id).Token;
        var otherRing = ChunkTokenService.ForKeyDirectory(_app.Scratch("another-ring"));
        var forgeries = new List<string>
        {
            otherRing.Issue(TokenOperation.Put, _app.Alice.NamespaceId, Appliance.StorageNodeId, [id.ToChunkId()], TimeSpan.FromMinutes(5)),
            token[..(token.Length / 2)],
            token + "AA",
            "not base64 at all !!",
            new string('A', 5_000),
        };
        forgeries.AddRange(new[] { 0, 7, 20, token.Length / 2, token.Length - 5, token.Length - 1 }.Select(i => FlipBit(token, i)));

        foreach (var forged in forgeries)
        {
            var (http, _) = await _app.HttpPutAsync(_app.StorageHttpUrl, id, forged, pieces[0]);
            var grpc = await GrpcPutAsync(id, pieces[0], forged);
            Assert.True(http == 401, $"HTTP put with a forged token answered {http}");
            Assert.Equal(StatusCode.Unauthenticated, grpc);
        }

        Assert.False(await StoredAsync(id));

        // The genuine token still works afterwards.
        var (ok, _) = await _app.HttpPutAsync(_app.StorageHttpUrl, id, token, pieces[0]);
        Assert.Equal(201, ok);
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task A_put_token_for_one_chunk_cannot_store_another_chunk()
    {
        var (chunks, pieces, plan) = await PlannedAsync("tokens/other-chunk.bin", 203);
        var tokenForFirst = plan.Missing.First(m => m.ChunkId == chunks[0].Id).Token;

        var (http, body) = await _app.HttpPutAsync(_app.StorageHttpUrl, chunks[1].Id, tokenForFirst, pieces[1]);
        var grpc = await GrpcPutAsync(chunks[1].Id, pieces[1], tokenForFirst);

        Assert.Equal(403, http);
        Assert.Contains("chunk", body, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(StatusCode.PermissionDenied, grpc);
        Assert.False(await StoredAsync(chunks[1].Id));
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task A_token_for_another_node_is_refused()
    {
        var (chunks, pieces, _) = await PlannedAsync("tokens/other-node.bin", 204);
        var id = chunks[0].Id;
        var put = _app.KeyRing.Issue(TokenOperation.Put, _app.Alice.NamespaceId, "storage-2", [id.ToChunkId()], TimeSpan.FromMinutes(5));
        var get = _app.KeyRing.Issue(TokenOperation.Get, _app.Alice.NamespaceId, "storage-2", [id.ToChunkId()], TimeSpan.FromMinutes(5));
        var system = _app.NodeCredential("storage-2");

        var (http, _) = await _app.HttpPutAsync(_app.StorageHttpUrl, id, put, pieces[0]);
        var grpc = await GrpcPutAsync(id, pieces[0], put);
        var (httpGet, _) = await _app.HttpGetAsync(_app.StorageHttpUrl, id, get);
        var has = await Expect.StatusOfAsync(() => _app.Storage(system).HasChunksAsync(new HasChunksRequest { ChunkIds = { id }, Token = system }).ResponseAsync);
        var delete = await Expect.StatusOfAsync(() => _app.Storage(system).DeleteChunksAsync(new DeleteChunksRequest { ChunkIds = { id }, Token = system }).ResponseAsync);

        Assert.Equal(403, http);
        Assert.Equal(StatusCode.PermissionDenied, grpc);
        Assert.Equal(403, httpGet);
        Assert.Equal(StatusCode.PermissionDenied, has);
        Assert.Equal(StatusCode.PermissionDenied, delete);
        Assert.False(await StoredAsync(id));
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task A_token_for_one_operation_is_refused_for_every_other()
    {
        var file = await _app.UploadAsync(_app.Alice, "tokens/operations.bin", Appliance.Content(205, 30_000), pieceSize: 10_000);
        var (chunks, pieces, plan) = await PlannedAsync("tokens/operations-new.bin", 206);
        var download = await _app.Sync(_app.Alice).GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = file.Entry.Path });
        var storedId = download.Chunks[0].Chunk.Id;
        var getToken = download.Chunks[0].Tokens[0];
        var putToken = plan.Missing.First(m => m.ChunkId == chunks[0].Id).Token;
        var putTokenForStored = _app.KeyRing.Issue(TokenOperation.Put, _app.Alice.NamespaceId, Appliance.StorageNodeId, [storedId.ToChunkId()], TimeSpan.FromMinutes(5));
        var system = _app.NodeCredential();

        // Get token to put; system token to put.
        Assert.Equal(403, (await _app.HttpPutAsync(_app.StorageHttpUrl, storedId, getToken, file.Pieces[0])).Status);
        Assert.Equal(StatusCode.PermissionDenied, await GrpcPutAsync(storedId, file.Pieces[0], getToken));
        Assert.Equal(403, (await _app.HttpPutAsync(_app.StorageHttpUrl, chunks[0].Id, system, pieces[0])).Status);
        Assert.Equal(StatusCode.PermissionDenied, await GrpcPutAsync(chunks[0].Id, pieces[0], system));

        // Put token to get; system token to get.
        Assert.Equal(403, (await _app.HttpGetAsync(_app.StorageHttpUrl, storedId, putTokenForStored)).Status);
        Assert.Equal(StatusCode.PermissionDenied, await GrpcGetAsync(storedId, putTokenForStored));
        Assert.Equal(403, (await _app.HttpGetAsync(_app.StorageHttpUrl, storedId, system)).Status);
        Assert.Equal(StatusCode.PermissionDenied, await GrpcGetAsync(storedId, system));

        // Put or get token as a node credential: has, delete, scrub.
        foreach (var token in new[] { putToken, getToken })
        {
            Assert.Equal(StatusCode.PermissionDenied, await Expect.StatusOfAsync(() => _app.Storage(token).HasChunksAsync(new HasChunksRequest { ChunkIds = { storedId }, Token = token }).ResponseAsync));
            Assert.Equal(StatusCode.PermissionDenied, await Expect.StatusOfAsync(() => _app.Storage(token).DeleteChunksAsync(new DeleteChunksRequest { ChunkIds = { storedId }, Token = token }).ResponseAsync));
            Assert.Equal(StatusCode.PermissionDenied, await Expect.StatusOfAsync(() => _app.Storage(token).ScrubAsync(new ScrubRequest { Token = token }).ResponseAsync));
        }

        // Nothing was stored or deleted along the way: alice's chunk is still served.
        var (status, body) = await _app.HttpGetAsync(_app.StorageHttpUrl, storedId, getToken);
        Assert.Equal(200, status);
        Assert.Equal(file.Pieces[0], body);
        Assert.False(await StoredAsync(chunks[0].Id));
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task Bytes_put_with_another_namespaces_token_count_for_that_namespace_only()
    {
        var (chunks, pieces, plan) = await PlannedAsync("tokens/bobs.bin", 207, _app.Bob);
        var size = (ulong)pieces.Sum(p => p.Length);

        // Alice uploads the bytes with bob's tokens, then tries to commit them as hers.
        foreach (var put in plan.Missing)
        {
            var i = chunks.FindIndex(c => c.Id == put.ChunkId);
            Assert.Equal(201, (await _app.HttpPutAsync(put.Node.HttpUrl, put.ChunkId, put.Token, pieces[i])).Status);
        }

        await Expect.RefusedAsync(() => _app.Sync(_app.Alice).CommitFileAsync(new CommitFileRequest { Path = "tokens/bobs.bin", Size = size, Chunks = { chunks } }).ResponseAsync, StatusCode.NotFound);
        var bobs = await _app.Sync(_app.Bob).CommitFileAsync(new CommitFileRequest { Path = "tokens/bobs.bin", Size = size, Chunks = { chunks } });
        Assert.Equal(size, bobs.Entry.Size);
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task A_put_token_replayed_with_other_bytes_is_refused_and_the_stored_chunk_is_unchanged()
    {
        var (chunks, pieces, plan) = await PlannedAsync("tokens/replay.bin", 208);
        var id = chunks[0].Id;
        var token = plan.Missing.First(m => m.ChunkId == id).Token;
        var other = (byte[])pieces[0].Clone();
        other[^1] ^= 0xFF;

        var before = await _app.HttpPutAsync(_app.StorageHttpUrl, id, token, other);
        Assert.Equal(422, before.Status);
        Assert.False(await StoredAsync(id));

        var first = await _app.HttpPutAsync(_app.StorageHttpUrl, id, token, pieces[0]);
        var tampered = await _app.HttpPutAsync(_app.StorageHttpUrl, id, token, other);
        var tamperedGrpc = await GrpcPutAsync(id, other, token);
        var again = await _app.HttpPutAsync(_app.StorageHttpUrl, id, token, pieces[0]);

        Assert.Equal(201, first.Status);
        Assert.Equal(422, tampered.Status);
        Assert.Equal(StatusCode.DataLoss, tamperedGrpc);
        Assert.Equal(first, again); // a replay of the same put answers as the first did
        var get = _app.KeyRing.Issue(TokenOperation.Get, _app.Alice.NamespaceId, Appliance.StorageNodeId, [id.ToChunkId()], TimeSpan.FromMinutes(5));
        var (status, body) = await _app.HttpGetAsync(_app.StorageHttpUrl, id, get);
        Assert.Equal(200, status);
        Assert.Equal(pieces[0], body);
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    [Fact]
    public async Task Stats_scrub_delete_and_has_need_a_node_credential()
    {
        var file = await _app.UploadAsync(_app.Alice, "tokens/maintenance.bin", Appliance.Content(209, 20_000), pieceSize: 10_000);
        var id = file.Chunks[0].Id;
        var storage = _app.Storage();
        var asUser = _app.Storage(_app.Alice.Token);

        foreach (var client in new[] { storage, asUser })
        {
            var stats = await Expect.StatusOfAsync(() => client.GetStatsAsync(new GetStatsRequest()).ResponseAsync);
            Assert.Contains(stats, new[] { StatusCode.Unauthenticated, StatusCode.PermissionDenied });
            Assert.Contains(await Expect.StatusOfAsync(() => client.ScrubAsync(new ScrubRequest()).ResponseAsync), new[] { StatusCode.Unauthenticated, StatusCode.PermissionDenied });
            Assert.Contains(await Expect.StatusOfAsync(() => client.DeleteChunksAsync(new DeleteChunksRequest { ChunkIds = { id } }).ResponseAsync), new[] { StatusCode.Unauthenticated, StatusCode.PermissionDenied });
            Assert.Contains(await Expect.StatusOfAsync(() => client.HasChunksAsync(new HasChunksRequest { ChunkIds = { id } }).ResponseAsync), new[] { StatusCode.Unauthenticated, StatusCode.PermissionDenied });
        }

        Assert.Contains(await Expect.StatusOfAsync(() => storage.ScrubAsync(new ScrubRequest { Token = _app.Alice.Token }).ResponseAsync), new[] { StatusCode.Unauthenticated, StatusCode.PermissionDenied });
        Assert.True(await StoredAsync(id));

        // With the node credential they work.
        var node = _app.NodeCredential();
        var scrub = await _app.Storage(node).ScrubAsync(new ScrubRequest { Token = node });
        var nodeStats = await _app.Storage(node).GetStatsAsync(new GetStatsRequest { Token = node });
        Assert.True(scrub.Checked > 0);
        Assert.True(nodeStats.ChunkCount > 0);
        Assert.Equal(StatusCode.Unauthenticated, await Expect.StatusOfAsync(() => storage.GetStatsAsync(new GetStatsRequest { Token = _app.Alice.Token }).ResponseAsync));
        Assert.Equal(StatusCode.PermissionDenied, await Expect.StatusOfAsync(() => storage.GetStatsAsync(new GetStatsRequest { Token = _app.NodeCredential("storage-2") }).ResponseAsync));
        _app.AssertNoUnhandledExceptions(_logMark);
    }
}
