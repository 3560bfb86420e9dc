using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Storage;
using Dropbox.Shared.Tokens;
using Google.Protobuf;
using Grpc.Core;
using K4os.Compression.LZ4;
using ProtoEncoding = Dropbox.Shared.Protos.Common.ChunkEncoding;

namespace Dropbox.StorageNode.Tests.Services;

public sealed class ChunkStorageServiceTests : IAsyncLifetime
{
    private NodeFixture _node = null!;

    public async Task InitializeAsync() => _node = await NodeFixture.StartAsync();

    public async Task DisposeAsync() => await _node.DisposeAsync();

    [Fact]
    public async Task PutChunks_then_GetChunks_and_HasChunks_round_trip_many_chunks_in_one_call()
    {
        var chunks = Enumerable.Range(0, 5).Select(i => TestChunks.Random(300_000 + (i * 900_000), i)).ToArray();

        var put = await _node.PutRawAsync(chunks);

        Assert.Equal(chunks.Select(c => c.Id.ToByteString()), put.Results.Select(r => r.ChunkId));
        var got = await _node.GetAsync(chunks.Select(c => c.Id).ToList());
        Assert.Equal(chunks.Length, got.Count);
        for (var i = 0; i < chunks.Length; i++)
        {
            Assert.Equal(chunks[i].Id.ToByteString(), got[i].Header.ChunkId);
            Assert.Equal(chunks[i].Bytes, got[i].Data);
        }

        var missing = TestChunks.Random(10, 99).Id;
        Assert.Equal(new[] { true, false, true }, await _node.HasAsync(chunks[0].Id, missing, chunks[4].Id));
    }

    [Fact]
    public async Task A_grpc_put_of_content_another_user_stores_answers_exactly_as_a_put_of_new_content()
    {
        var held = TestChunks.Random(50_000, 7);
        var fresh = TestChunks.Random(50_000, 8);
        await _node.PutRawAsync(held); // another user stored it first

        string Token(ChunkId id) => _node.Tokens.Issue(TokenOperation.Put, "ns-other-user", NodeFixture.NodeIdValue, new[] { id }, TimeSpan.FromMinutes(5));
        var again = await _node.PutAsync(new[] { (held.Id, held.Bytes, held.Bytes.Length, ProtoEncoding.Raw, Token(held.Id)) });
        var first = await _node.PutAsync(new[] { (fresh.Id, fresh.Bytes, fresh.Bytes.Length, ProtoEncoding.Raw, Token(fresh.Id)) });

        // Field for field the same answer, the chunk id aside: nothing says "someone had this".
        Assert.Equal(new PutChunkResult { ChunkId = held.Id.ToByteString() }, Assert.Single(again.Results));
        Assert.Equal(new PutChunkResult { ChunkId = fresh.Id.ToByteString() }, Assert.Single(first.Results));
        Assert.Equal(2, _node.Store.Engine.GetStats().ChunkCount);
    }

    [Fact]
    public async Task An_http_put_of_content_another_user_stores_answers_exactly_as_a_put_of_new_content()
    {
        var held = TestChunks.Random(40_000, 9);
        var fresh = TestChunks.Random(40_000, 10);
        await _node.PutRawAsync(held);

        async Task<(int Status, string Body, string Headers)> PutAsync((ChunkId Id, byte[] Bytes) chunk)
        {
            var token = _node.Tokens.Issue(TokenOperation.Put, "ns-other-user", NodeFixture.NodeIdValue, new[] { chunk.Id }, TimeSpan.FromMinutes(5));
            using var response = await _node.Http.PutAsync($"{_node.HttpUrl}/chunks/{chunk.Id}?token={Uri.EscapeDataString(token)}", new ByteArrayContent(chunk.Bytes));
            var headers = string.Join(",", response.Headers.Concat(response.Content.Headers).Select(h => h.Key).Where(k => k != "Date").Order());
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(), headers);
        }

        var again = await PutAsync(held);
        var first = await PutAsync(fresh);

        Assert.Equal(first, again);
        Assert.Equal(201, first.Status);
    }

    [Fact]
    public async Task Stats_scrub_delete_and_has_refuse_a_call_without_a_node_token_and_a_user_token()
    {
        var chunk = TestChunks.Random(1000, 11);
        await _node.PutRawAsync(chunk);
        var ids = new[] { chunk.Id.ToByteString() };
        var userTokens = new[] { _node.PutToken(chunk.Id), _node.GetToken(chunk.Id) };
        var calls = new List<(string Name, Func<string, Task> Call)>
        {
            ("GetStats", t => _node.Client.GetStatsAsync(new GetStatsRequest { Token = t }).ResponseAsync),
            ("Scrub", t => _node.Client.ScrubAsync(new ScrubRequest { Token = t }).ResponseAsync),
            ("DeleteChunks", t => _node.Client.DeleteChunksAsync(new DeleteChunksRequest { Token = t, ChunkIds = { ids } }).ResponseAsync),
            ("HasChunks", t => _node.Client.HasChunksAsync(new HasChunksRequest { Token = t, ChunkIds = { ids } }).ResponseAsync),
        };

        foreach (var (name, call) in calls)
        {
            var anonymous = await Assert.ThrowsAsync<RpcException>(() => call(string.Empty));
            Assert.True(anonymous.StatusCode == StatusCode.Unauthenticated, $"{name} without a token: {anonymous.StatusCode}");
            foreach (var token in userTokens)
            {
                var user = await Assert.ThrowsAsync<RpcException>(() => call(token));
                Assert.True(user.StatusCode == StatusCode.PermissionDenied, $"{name} with a user token: {user.StatusCode}");
            }
        }

        // Nothing was deleted, and the node's own credential still works.
        Assert.Equal(new[] { true }, await _node.HasAsync(chunk.Id));
        Assert.Equal(1u, (await _node.Client.GetStatsAsync(new GetStatsRequest { Token = _node.SystemToken() })).ChunkCount);
    }

    [Fact]
    public async Task Lz4_chunk_is_stored_compressed_and_served_raw_unless_lz4_is_accepted()
    {
        var (id, plain) = TestChunks.Compressible(200_000, 8);
        var compressed = new byte[LZ4Codec.MaximumOutputSize(plain.Length)];
        var n = LZ4Codec.Encode(plain, compressed);
        compressed = compressed[..n];

        await _node.PutAsync(new[] { (id, compressed, plain.Length, ProtoEncoding.Lz4, _node.PutToken(id)) });

        var raw = Assert.Single(await _node.GetAsync(new[] { id }));
        Assert.Equal(ProtoEncoding.Raw, raw.Header.Encoding);
        Assert.Equal(plain, raw.Data);
        var lz4 = Assert.Single(await _node.GetAsync(new[] { id }, acceptLz4: true));
        Assert.Equal(ProtoEncoding.Lz4, lz4.Header.Encoding);
        Assert.Equal(compressed, lz4.Data);
        Assert.True(_node.Store.Engine.TryGetLocation(id, out var location));
        Assert.Equal(n, location.StoredLength);
    }

    [Fact]
    public async Task One_put_token_for_several_chunks_stores_each_and_still_refuses_a_chunk_it_does_not_cover()
    {
        var chunks = Enumerable.Range(0, 4).Select(i => TestChunks.Random(1_000 + i, 40 + i)).ToArray();
        var shared = _node.Tokens.Issue(TokenOperation.Put, NodeFixture.Namespace, NodeFixture.NodeIdValue, chunks[..3].Select(c => c.Id).ToArray(), TimeSpan.FromMinutes(5));

        var put = await _node.PutAsync(chunks[..3].Select(c => (c.Id, c.Bytes, c.Bytes.Length, ProtoEncoding.Raw, shared)));
        Assert.Equal(chunks[..3].Select(c => c.Id.ToByteString()), put.Results.Select(r => r.ChunkId));

        // The same token again, now for a chunk outside its list right after one inside it: the signature was checked
        // for the first, the grant must still be checked for the second.
        var ex = await Assert.ThrowsAsync<RpcException>(() => _node.PutAsync(new[] { chunks[0], chunks[3] }.Select(c => (c.Id, c.Bytes, c.Bytes.Length, ProtoEncoding.Raw, shared))));

        Assert.Equal(StatusCode.PermissionDenied, ex.StatusCode);
        Assert.Contains("Wrong chunk", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(new[] { true, true, true, false }, await _node.HasAsync(chunks.Select(c => c.Id).ToArray()));
    }

    [Fact]
    public async Task PutChunks_with_bytes_that_do_not_hash_to_the_id_is_refused_and_nothing_is_stored()
    {
        var (id, bytes) = TestChunks.Random(10_000, 9);
        var tampered = (byte[])bytes.Clone();
        tampered[5000] ^= 0xFF;

        var ex = await Assert.ThrowsAsync<RpcException>(() => _node.PutRawAsync((id, tampered)));

        Assert.Equal(StatusCode.DataLoss, ex.StatusCode);
        Assert.Contains("Hash mismatch", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(new[] { false }, await _node.HasAsync(id));
        Assert.Equal(0, _node.Store.Engine.GetStats().ChunkCount);
    }

    [Fact]
    public async Task PutChunks_with_a_bad_lz4_block_is_refused_and_nothing_is_stored()
    {
        var (id, plain) = TestChunks.Compressible(10_000, 10);
        var garbage = new byte[500];
        new Random(1).NextBytes(garbage);

        var ex = await Assert.ThrowsAsync<RpcException>(() => _node.PutAsync(new[] { (id, garbage, plain.Length, ProtoEncoding.Lz4, _node.PutToken(id)) }));

        Assert.Equal(StatusCode.DataLoss, ex.StatusCode);
        Assert.Equal(new[] { false }, await _node.HasAsync(id));
    }

    [Fact]
    public async Task A_data_frame_over_the_message_limit_is_refused()
    {
        var (id, bytes) = TestChunks.Random(3 * 1024 * 1024, 11);
        using var call = _node.Client.PutChunks();
        await call.RequestStream.WriteAsync(new PutChunkRequest { Header = new ChunkHeader { ChunkId = id.ToByteString(), PlainSize = (uint)bytes.Length, StoredSize = (uint)bytes.Length, Token = _node.PutToken(id) } });

        var ex = await Assert.ThrowsAnyAsync<RpcException>(async () =>
        {
            try
            {
                await call.RequestStream.WriteAsync(new PutChunkRequest { Data = ByteString.CopyFrom(bytes) });
                await call.RequestStream.CompleteAsync();
            }
            catch (RpcException)
            {
                // The server ended the call: its status is the answer.
            }

            await call;
        });

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
        Assert.Equal(new[] { false }, await _node.HasAsync(id));
    }

    [Fact]
    public async Task A_chunk_larger_than_the_node_accepts_is_refused_with_InvalidArgument()
    {
        var id = TestChunks.Random(10, 12).Id;
        using var call = _node.Client.PutChunks();
        await call.RequestStream.WriteAsync(new PutChunkRequest { Header = new ChunkHeader { ChunkId = id.ToByteString(), PlainSize = 5 * 1024 * 1024, StoredSize = 5 * 1024 * 1024, Token = _node.PutToken(id) } });

        var ex = await Assert.ThrowsAnyAsync<RpcException>(async () =>
        {
            await call.RequestStream.CompleteAsync();
            await call;
        });

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("at most", ex.Status.Detail, StringComparison.Ordinal);
    }

    public static TheoryData<string, StatusCode, string> BadPutTokens => new()
    {
        { "missing", StatusCode.Unauthenticated, "Missing token" },
        { "expired", StatusCode.Unauthenticated, "Expired token" },
        { "forged", StatusCode.Unauthenticated, "Invalid token" },
        { "other-key-ring", StatusCode.Unauthenticated, "Invalid token" },
        { "wrong-node", StatusCode.PermissionDenied, "Wrong node" },
        { "wrong-chunk", StatusCode.PermissionDenied, "Wrong chunk" },
        { "wrong-operation", StatusCode.PermissionDenied, "Wrong operation" },
    };

    private string BadToken(string kind, TokenOperation operation, ChunkId id)
    {
        var other = TestChunks.Random(10, 1234).Id;
        return kind switch
        {
            "missing" => string.Empty,
            "expired" => _node.Tokens.Issue(operation, NodeFixture.Namespace, NodeFixture.NodeIdValue, new[] { id }, TimeSpan.FromSeconds(-1)),
            "forged" => _node.Tokens.Issue(operation, NodeFixture.Namespace, NodeFixture.NodeIdValue, new[] { id }, TimeSpan.FromMinutes(5))[..^6] + "AAAAAA",
            "other-key-ring" => OtherKeyRingToken(operation, id),
            "wrong-node" => _node.Tokens.Issue(operation, NodeFixture.Namespace, "node-b", new[] { id }, TimeSpan.FromMinutes(5)),
            "wrong-chunk" => _node.Tokens.Issue(operation, NodeFixture.Namespace, NodeFixture.NodeIdValue, new[] { other }, TimeSpan.FromMinutes(5)),
            "wrong-operation" => _node.Tokens.Issue(operation == TokenOperation.Put ? TokenOperation.Get : TokenOperation.Put, NodeFixture.Namespace, NodeFixture.NodeIdValue, new[] { id }, TimeSpan.FromMinutes(5)),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }

    private static string OtherKeyRingToken(TokenOperation operation, ChunkId id)
    {
        using var keys = new TempFolder();
        return ChunkTokenService.ForKeyDirectory(keys.Path).Issue(operation, NodeFixture.Namespace, NodeFixture.NodeIdValue, new[] { id }, TimeSpan.FromMinutes(5));
    }

    [Theory]
    [MemberData(nameof(BadPutTokens))]
    public async Task PutChunks_with_a_bad_token_is_refused_with_a_clear_status_and_stores_nothing(string kind, StatusCode status, string message)
    {
        var (id, bytes) = TestChunks.Random(1000, 13);

        var ex = await Assert.ThrowsAsync<RpcException>(() => _node.PutAsync(new[] { (id, bytes, bytes.Length, ProtoEncoding.Raw, BadToken(kind, TokenOperation.Put, id)) }));

        Assert.Equal(status, ex.StatusCode);
        Assert.Contains(message, ex.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(new[] { false }, await _node.HasAsync(id));
    }

    [Theory]
    [MemberData(nameof(BadPutTokens))]
    public async Task GetChunks_with_a_bad_token_is_refused_with_a_clear_status(string kind, StatusCode status, string message)
    {
        var chunk = TestChunks.Random(1000, 14);
        await _node.PutRawAsync(chunk);

        var ex = await Assert.ThrowsAsync<RpcException>(() => _node.GetAsync(new[] { chunk.Id }, BadToken(kind, TokenOperation.Get, chunk.Id)));

        Assert.Equal(status, ex.StatusCode);
        Assert.Contains(message, ex.Status.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(BadPutTokens))]
    public async Task Http_put_with_a_bad_token_is_refused_with_401_or_403_and_stores_nothing(string kind, StatusCode status, string message)
    {
        var (id, bytes) = TestChunks.Random(1000, 15);

        using var response = await _node.Http.PutAsync($"{_node.HttpUrl}/chunks/{id}?token={Uri.EscapeDataString(BadToken(kind, TokenOperation.Put, id))}", new ByteArrayContent(bytes));

        Assert.Equal(status == StatusCode.Unauthenticated ? 401 : 403, (int)response.StatusCode);
        Assert.Contains(message, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(new[] { false }, await _node.HasAsync(id));
    }

    [Theory]
    [MemberData(nameof(BadPutTokens))]
    public async Task Http_get_with_a_bad_token_is_refused_with_401_or_403(string kind, StatusCode status, string message)
    {
        var chunk = TestChunks.Random(1000, 16);
        await _node.PutRawAsync(chunk);

        using var response = await _node.Http.GetAsync($"{_node.HttpUrl}/chunks/{chunk.Id}?token={Uri.EscapeDataString(BadToken(kind, TokenOperation.Get, chunk.Id))}");

        Assert.Equal(status == StatusCode.Unauthenticated ? 401 : 403, (int)response.StatusCode);
        Assert.Contains(message, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.False(response.Headers.Contains("ETag"));
    }

    [Fact]
    public async Task HasChunks_and_DeleteChunks_need_a_system_token()
    {
        var chunk = TestChunks.Random(1000, 17);
        await _node.PutRawAsync(chunk);
        var request = new HasChunksRequest { Token = _node.GetToken(chunk.Id) };
        request.ChunkIds.Add(chunk.Id.ToByteString());

        var has = await Assert.ThrowsAsync<RpcException>(async () => await _node.Client.HasChunksAsync(request));
        var delete = new DeleteChunksRequest { Token = _node.PutToken(chunk.Id) };
        delete.ChunkIds.Add(chunk.Id.ToByteString());
        var del = await Assert.ThrowsAsync<RpcException>(async () => await _node.Client.DeleteChunksAsync(delete));

        Assert.Equal(StatusCode.PermissionDenied, has.StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, del.StatusCode);
        Assert.Equal(new[] { true }, await _node.HasAsync(chunk.Id));
    }

    [Fact]
    public async Task DeleteChunks_removes_chunks_and_GetChunks_then_reports_NotFound()
    {
        var a = TestChunks.Random(1000, 18);
        var b = TestChunks.Random(1000, 19);
        await _node.PutRawAsync(a, b);
        var request = new DeleteChunksRequest { Token = _node.SystemToken() };
        request.ChunkIds.Add(a.Id.ToByteString());
        request.ChunkIds.Add(TestChunks.Random(5, 77).Id.ToByteString());

        var response = await _node.Client.DeleteChunksAsync(request);

        Assert.Equal(1u, response.Deleted);
        Assert.Equal(new[] { false, true }, await _node.HasAsync(a.Id, b.Id));
        var ex = await Assert.ThrowsAsync<RpcException>(() => _node.GetAsync(new[] { a.Id }));
        Assert.Equal(StatusCode.NotFound, ex.StatusCode);
        var stats = await _node.Client.GetStatsAsync(new GetStatsRequest { Token = _node.SystemToken() });
        Assert.Equal(1u, stats.ChunkCount);
        Assert.Equal(NodeFixture.NodeIdValue, stats.NodeId);
    }

    [Fact]
    public async Task Scrub_over_grpc_finds_a_flipped_byte_and_get_refuses_the_chunk()
    {
        var chunks = Enumerable.Range(0, 3).Select(i => TestChunks.Random(20_000, 20 + i)).ToArray();
        await _node.PutRawAsync(chunks);
        Assert.True(_node.Store.Engine.TryGetLocation(chunks[1].Id, out var location));
        var segment = Directory.GetFiles(Path.Combine(_node.Options.DataDirectory, "segments")).Single();
        using (var stream = new FileStream(segment, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            stream.Position = location.Offset + 64 + 777;
            var value = stream.ReadByte();
            stream.Position--;
            stream.WriteByte((byte)(value ^ 0x40));
        }

        var scrub = await _node.Client.ScrubAsync(new ScrubRequest { Token = _node.SystemToken() });

        Assert.Equal(3u, scrub.Checked);
        Assert.Equal(chunks[1].Id.ToByteString(), Assert.Single(scrub.CorruptChunkIds));
        var ex = await Assert.ThrowsAsync<RpcException>(() => _node.GetAsync(new[] { chunks[1].Id }));
        Assert.Equal(StatusCode.DataLoss, ex.StatusCode);
        Assert.Contains("quarantined", ex.Status.Detail, StringComparison.Ordinal);
        using var http = await _node.Http.GetAsync($"{_node.HttpUrl}/chunks/{chunks[1].Id}?token={Uri.EscapeDataString(_node.GetToken(chunks[1].Id))}");
        Assert.Equal(422, (int)http.StatusCode);
        Assert.Equal(1u, (await _node.Client.GetStatsAsync(new GetStatsRequest { Token = _node.SystemToken() })).Quarantined);

        // Uploading the chunk again heals it.
        await _node.PutRawAsync(chunks[1]);
        Assert.Equal(chunks[1].Bytes, Assert.Single(await _node.GetAsync(new[] { chunks[1].Id })).Data);
    }

    [Fact]
    public async Task Http_get_serves_plain_bytes_with_etag_and_immutable_caching()
    {
        var (id, plain) = TestChunks.Compressible(100_000, 21);
        var compressed = new byte[LZ4Codec.MaximumOutputSize(plain.Length)];
        compressed = compressed[..LZ4Codec.Encode(plain, compressed)];
        await _node.PutAsync(new[] { (id, compressed, plain.Length, ProtoEncoding.Lz4, _node.PutToken(id)) });
        var url = $"{_node.HttpUrl}/chunks/{id}?token={Uri.EscapeDataString(_node.GetToken(id))}";

        using var response = await _node.Http.GetAsync(url);

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal(plain, await response.Content.ReadAsByteArrayAsync());
        Assert.Equal($"\"{id}\"", response.Headers.ETag?.Tag);
        Assert.Contains("immutable", response.Headers.CacheControl?.ToString(), StringComparison.Ordinal);
        Assert.True(response.Headers.CacheControl?.Private, "a shared cache must not keep serving the bytes after the token expired");
        Assert.False(response.Headers.CacheControl?.Public);
        Assert.Equal(TimeSpan.FromDays(365), response.Headers.CacheControl?.MaxAge);

        using var conditional = new HttpRequestMessage(HttpMethod.Get, url);
        conditional.Headers.IfNoneMatch.Add(new System.Net.Http.Headers.EntityTagHeaderValue($"\"{id}\""));
        using var notModified = await _node.Http.SendAsync(conditional);
        Assert.Equal(304, (int)notModified.StatusCode);
    }

    [Fact]
    public async Task Http_put_with_a_put_token_stores_the_chunk_and_a_mismatch_is_refused()
    {
        var (id, bytes) = TestChunks.Random(200_000, 22);
        var tampered = (byte[])bytes.Clone();
        tampered[0] ^= 1;

        using var bad = await _node.Http.PutAsync($"{_node.HttpUrl}/chunks/{id}?token={Uri.EscapeDataString(_node.PutToken(id))}", new ByteArrayContent(tampered));
        Assert.Equal(422, (int)bad.StatusCode);
        Assert.Contains("Hash mismatch", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(new[] { false }, await _node.HasAsync(id));

        using var created = await _node.Http.PutAsync($"{_node.HttpUrl}/chunks/{id}?token={Uri.EscapeDataString(_node.PutToken(id))}", new ByteArrayContent(bytes));
        using var again = await _node.Http.PutAsync($"{_node.HttpUrl}/chunks/{id}?token={Uri.EscapeDataString(_node.PutToken(id))}", new ByteArrayContent(bytes));

        Assert.Equal(201, (int)created.StatusCode);
        Assert.Equal(201, (int)again.StatusCode); // the same answer as a first put
        Assert.Equal(bytes, Assert.Single(await _node.GetAsync(new[] { id })).Data);
    }

    [Fact]
    public async Task Healthz_answers_ok()
    {
        var text = await _node.Http.GetStringAsync($"{_node.HttpUrl}/healthz");

        Assert.StartsWith("ok", text, StringComparison.Ordinal);
    }
}
