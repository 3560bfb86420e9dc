using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Storage;
using Dropbox.StorageNode.Store;
using Google.Protobuf;
using Grpc.Core;
using ProtoEncoding = Dropbox.Shared.Protos.Common.ChunkEncoding;

namespace Dropbox.StorageNode.Tests.Services;

/// <summary>
/// Small chunks several to a PutChunks message (PackedChunks) against a real node on 127.0.0.1: stored and verified
/// as if sent alone, mixed with the header + data form in one call, every malformed pack (counts, sizes, tokens)
/// refused before any chunk of it is stored, and a chunk whose hash is wrong refused on its own.
/// </summary>
public sealed class PackedPutTests : IAsyncLifetime
{
    private NodeFixture _node = null!;

    public async Task InitializeAsync() => _node = await NodeFixture.StartAsync();

    public async Task DisposeAsync() => await _node.DisposeAsync();

    private ChunkHeader Header((ChunkId Id, byte[] Bytes) chunk, string? token = null, uint? storedSize = null) => new()
    {
        ChunkId = chunk.Id.ToByteString(),
        Encoding = ProtoEncoding.Raw,
        PlainSize = (uint)chunk.Bytes.Length,
        StoredSize = storedSize ?? (uint)chunk.Bytes.Length,
        Token = token ?? _node.PutToken(chunk.Id),
    };

    private static PutChunkRequest Packed(IEnumerable<ChunkHeader> headers, byte[] data) =>
        new() { Packed = new PackedChunks { Headers = { headers }, Data = ByteString.CopyFrom(data) } };

    private async Task<(StatusCode Status, PutChunksResponse? Response, string Detail)> SendAsync(params PutChunkRequest[] messages)
    {
        using var call = _node.Client.PutChunks();
        try
        {
            foreach (var message in messages)
            {
                await call.RequestStream.WriteAsync(message);
            }

            await call.RequestStream.CompleteAsync();
        }
        catch (RpcException)
        {
            // The node ended the call early: its status below is the answer.
        }

        try
        {
            return (StatusCode.OK, await call.ResponseAsync, string.Empty);
        }
        catch (RpcException e)
        {
            return (e.StatusCode, null, e.Status.Detail);
        }
    }

    [Fact]
    public async Task Packed_chunks_mixed_with_header_and_data_chunks_in_one_call_are_stored_and_read_back_byte_for_byte()
    {
        var small = Enumerable.Range(0, 40).Select(i => TestChunks.Random(1024 + (i * 173), 100 + i)).ToArray();
        var big = TestChunks.Random(300_000, 99);
        var empty = TestChunks.Random(0, 98);

        var answer = await SendAsync(
            Packed(small[..25].Select(c => Header(c)), [.. small[..25].SelectMany(c => c.Bytes)]),
            new PutChunkRequest { Header = Header(big) },
            new PutChunkRequest { Data = ByteString.CopyFrom(big.Bytes) },
            Packed(small[25..].Select(c => Header(c)).Append(Header(empty)), [.. small[25..].SelectMany(c => c.Bytes)]));

        Assert.Equal(StatusCode.OK, answer.Status);
        var order = small[..25].Append(big).Concat(small[25..]).Append(empty).ToArray();
        Assert.Equal(order.Select(c => c.Id.ToByteString()), answer.Response!.Results.Select(r => r.ChunkId));
        Assert.True(answer.Response.PackedAccepted);
        var got = await _node.GetAsync(order.Select(c => c.Id).ToList());
        Assert.Equal(order.Select(c => c.Bytes), got.Select(g => g.Data));
    }

    [Fact]
    public async Task A_call_in_the_header_and_data_form_alone_is_still_accepted_and_its_answer_says_packed_messages_are_taken()
    {
        var chunks = Enumerable.Range(0, 3).Select(i => TestChunks.Random(5000, 200 + i)).ToArray();

        var answer = await _node.PutRawAsync(chunks);

        Assert.Equal(chunks.Select(c => c.Id.ToByteString()), answer.Results.Select(r => r.ChunkId));
        Assert.True(answer.PackedAccepted);
        Assert.Equal(new[] { true, true, true }, await _node.HasAsync(chunks.Select(c => c.Id).ToArray()));
    }

    [Fact]
    public async Task A_packed_message_that_lists_each_shared_token_once_is_stored_and_read_back_byte_for_byte()
    {
        // Two plan tokens, each covering half of the chunks (as a plan shares one token among up to 16 chunks), listed
        // once each, in the order the headers first use them; the node's answer says it takes this form.
        var chunks = Enumerable.Range(0, 10).Select(i => TestChunks.Random(1000 + (i * 311), 400 + i)).ToArray();
        string[] tokens = [SharedToken(chunks[5..]), SharedToken(chunks[..5])];
        var headers = chunks.Select((c, i) => WithIndex(Header(c, token: string.Empty), i < 5 ? 1u : 0u)).ToList();

        var answer = await SendAsync(PackedWithTokens(headers, [.. chunks.SelectMany(c => c.Bytes)], tokens));

        Assert.Equal(StatusCode.OK, answer.Status);
        Assert.Equal(chunks.Select(c => c.Id.ToByteString()), answer.Response!.Results.Select(r => r.ChunkId));
        Assert.True(answer.Response.TokenTableAccepted, "the node's answer does not say it takes packed messages with token tables");
        var got = await _node.GetAsync(chunks.Select(c => c.Id).ToList());
        Assert.Equal(chunks.Select(c => c.Bytes), got.Select(g => g.Data));
    }

    [Fact]
    public async Task Each_packed_message_reads_its_own_token_list_and_interleaved_indexes_are_each_checked_against_their_chunk()
    {
        // Two messages of one call whose lists both start with a token, different ones: each chunk must be judged by
        // its own message's list (the node's cache of the last token read must not carry index 0 across messages).
        var first = Enumerable.Range(0, 6).Select(i => TestChunks.Random(1500, 600 + i)).ToArray();
        var second = Enumerable.Range(0, 6).Select(i => TestChunks.Random(1500, 700 + i)).ToArray();
        // Within the second message two tokens interleave (0, 1, 0, 1, ...), each granting its own three chunks.
        var secondTokens = new[] { SharedToken(second.Where((_, i) => i % 2 == 0)), SharedToken(second.Where((_, i) => i % 2 == 1)) };

        var answer = await SendAsync(
            PackedWithTokens(first.Select(c => WithIndex(Header(c, token: string.Empty), 0)), [.. first.SelectMany(c => c.Bytes)], [SharedToken(first)]),
            PackedWithTokens(second.Select((c, i) => WithIndex(Header(c, token: string.Empty), (uint)(i % 2))), [.. second.SelectMany(c => c.Bytes)], secondTokens));

        Assert.Equal(StatusCode.OK, answer.Status);
        var all = first.Concat(second).ToArray();
        Assert.Equal(all.Select(c => c.Id.ToByteString()), answer.Response!.Results.Select(r => r.ChunkId));
        var got = await _node.GetAsync(all.Select(c => c.Id).ToList());
        Assert.Equal(all.Select(c => c.Bytes), got.Select(g => g.Data));

        // A later message whose list puts at index 0 the first message's token, which grants none of its chunks: refused,
        // and none of its chunks stored.
        var third = Enumerable.Range(0, 3).Select(i => TestChunks.Random(1500, 800 + i)).ToArray();
        var refused = await SendAsync(
            PackedWithTokens(first.Select(c => WithIndex(Header(c, token: string.Empty), 0)), [.. first.SelectMany(c => c.Bytes)], [SharedToken(first)]),
            PackedWithTokens(third.Select(c => WithIndex(Header(c, token: string.Empty), 0)), [.. third.SelectMany(c => c.Bytes)], [SharedToken(first)]));
        Assert.Contains(refused.Status, new[] { StatusCode.PermissionDenied, StatusCode.Unauthenticated, StatusCode.InvalidArgument });
        Assert.Equal(new[] { false, false, false }, await _node.HasAsync(third.Select(c => c.Id).ToArray()));
    }

    public static TheoryData<string> TableMalformations() => new()
    {
        "index-past-the-table",
        "token-of-its-own-beside-the-table",
        "more-tokens-than-chunks",
        "index-naming-another-chunks-token",
        "forged-token-in-the-table",
    };

    [Theory]
    [MemberData(nameof(TableMalformations))]
    public async Task A_malformed_token_table_is_refused_and_stores_none_of_the_messages_chunks(string how)
    {
        var chunks = Enumerable.Range(0, 4).Select(i => TestChunks.Random(2000, 500 + i)).ToArray();
        var tokens = new List<string> { SharedToken(chunks) };
        var headers = chunks.Select(c => WithIndex(Header(c, token: string.Empty), 0)).ToList();
        switch (how)
        {
            case "index-past-the-table":
                headers[^1].TokenIndex = 1;
                break;
            case "token-of-its-own-beside-the-table":
                headers[^1].Token = _node.PutToken(chunks[^1].Id);
                break;
            case "more-tokens-than-chunks":
                tokens.AddRange(Enumerable.Repeat(tokens[0], chunks.Length));
                break;
            case "index-naming-another-chunks-token":
                tokens.Add(SharedToken(chunks[..1]));
                headers[^1].TokenIndex = 1;
                break;
            case "forged-token-in-the-table":
                tokens.Add("forged");
                headers[^1].TokenIndex = 1;
                break;
        }

        var answer = await SendAsync(PackedWithTokens(headers, [.. chunks.SelectMany(c => c.Bytes)], tokens));

        Assert.Contains(answer.Status, new[] { StatusCode.InvalidArgument, StatusCode.Unauthenticated, StatusCode.PermissionDenied });
        Assert.False(string.IsNullOrWhiteSpace(answer.Detail));
        Assert.Equal(0L, (long)_node.Store.Engine.GetStats().ChunkCount);
    }

    private string SharedToken(IEnumerable<(ChunkId Id, byte[] Bytes)> chunks) =>
        _node.Tokens.Issue(Dropbox.Shared.Tokens.TokenOperation.Put, NodeFixture.Namespace, NodeFixture.NodeIdValue, chunks.Select(c => c.Id).ToArray(), TimeSpan.FromMinutes(5));

    private static ChunkHeader WithIndex(ChunkHeader header, uint index)
    {
        header.TokenIndex = index;
        return header;
    }

    private static PutChunkRequest PackedWithTokens(IEnumerable<ChunkHeader> headers, byte[] data, IEnumerable<string> tokens) =>
        new() { Packed = new PackedChunks { Headers = { headers }, Data = ByteString.CopyFrom(data), Tokens = { tokens } } };

    public static TheoryData<string> Malformations() => new()
    {
        "sizes-add-up-to-less",
        "sizes-add-up-to-more",
        "no-headers",
        "too-many-headers",
        "chunk-over-packed-limit",
        "data-over-frame-limit",
        "stored-sizes-that-wrap-a-32-bit-sum",
        "forged-token-last",
        "token-for-another-chunk",
        "pack-inside-an-unfinished-chunk",
        "bad-chunk-id",
    };

    [Theory]
    [MemberData(nameof(Malformations))]
    public async Task A_malformed_packed_message_is_invalid_argument_or_unauthenticated_and_stores_none_of_its_chunks(string how)
    {
        var chunks = Enumerable.Range(0, 4).Select(i => TestChunks.Random(2000, 300 + i)).ToArray();
        var headers = chunks.Select(c => Header(c)).ToList();
        byte[] data = [.. chunks.SelectMany(c => c.Bytes)];
        var before = new List<PutChunkRequest>();
        switch (how)
        {
            case "sizes-add-up-to-less":
                data = [.. data, 1, 2, 3];
                break;
            case "sizes-add-up-to-more":
                data = data[..^1];
                break;
            case "no-headers":
                headers.Clear();
                break;
            case "too-many-headers":
                var tiny = TestChunks.Random(10, 312);
                headers = Enumerable.Range(0, StoreLimits.MaxPackedChunks + 1).Select(_ => Header(tiny)).ToList();
                data = [.. Enumerable.Range(0, StoreLimits.MaxPackedChunks + 1).SelectMany(_ => tiny.Bytes)];
                break;
            case "chunk-over-packed-limit":
                var large = TestChunks.Random(PackedChunkLimits.MaxChunkBytes + 1, 310);
                headers.Add(Header(large));
                data = [.. data, .. large.Bytes];
                break;
            case "data-over-frame-limit":
                // Sixteen whole chunks of the packed limit and one of a byte: every chunk within the limit, tokens and
                // hashes right, sizes adding up exactly to one byte over a frame, so only the frame limit refuses it.
                var full = Enumerable.Range(0, 16).Select(i => TestChunks.Random(PackedChunkLimits.MaxChunkBytes, 320 + i)).Append(TestChunks.Random(1, 340)).ToArray();
                headers = full.Select(c => Header(c)).ToList();
                data = [.. full.SelectMany(c => c.Bytes)];
                Assert.Equal(StoreLimits.MaxFrameBytes + 1, data.Length);
                break;
            case "stored-sizes-that-wrap-a-32-bit-sum":
                // Four sizes of uint.MaxValue / 4 + 1 would wrap a 32-bit sum around to a small number. The node sums
                // in 64 bits and refuses each size over the packed limit before summing (and the header check would
                // too), so no single check is shown here: only that such a pack is refused and stores nothing.
                headers = chunks.Select(c => Header(c, storedSize: (uint.MaxValue / 4) + 1)).ToList();
                break;
            case "forged-token-last":
                headers[^1] = Header(chunks[^1], token: "forged");
                break;
            case "token-for-another-chunk":
                headers[^1] = Header(chunks[^1], token: _node.PutToken(chunks[0].Id));
                break;
            case "pack-inside-an-unfinished-chunk":
                var open = TestChunks.Random(9000, 311);
                before.Add(new PutChunkRequest { Header = Header(open) });
                before.Add(new PutChunkRequest { Data = ByteString.CopyFrom(open.Bytes, 0, 100) });
                break;
            case "bad-chunk-id":
                headers[1] = new ChunkHeader(headers[1]) { ChunkId = ByteString.CopyFrom(new byte[31]) };
                break;
        }

        var answer = await SendAsync([.. before, Packed(headers, data)]);

        Assert.Contains(answer.Status, new[] { StatusCode.InvalidArgument, StatusCode.Unauthenticated, StatusCode.PermissionDenied });
        Assert.False(string.IsNullOrWhiteSpace(answer.Detail));
        Assert.Equal(0L, (long)_node.Store.Engine.GetStats().ChunkCount);
    }

    [Fact]
    public async Task A_tampered_chunk_in_the_middle_of_a_pack_is_refused_as_data_loss_and_the_others_are_stored_and_read_back_byte_for_byte()
    {
        // Sizes and tokens are checked for the whole pack up front, hashes chunk by chunk: a chunk whose bytes do not
        // hash to its id fails the call with DATA_LOSS, and the others (each verified) are stored.
        var chunks = Enumerable.Range(0, 5).Select(i => TestChunks.Random(2500 + (i * 100), 410 + i)).ToArray();
        var tampered = (byte[])chunks[2].Bytes.Clone();
        tampered[5] ^= 1;
        byte[] data = [.. chunks[..2].SelectMany(c => c.Bytes), .. tampered, .. chunks[3..].SelectMany(c => c.Bytes)];

        var answer = await SendAsync(Packed(chunks.Select(c => Header(c)), data));

        Assert.Equal(StatusCode.DataLoss, answer.Status);
        var others = chunks.Where((_, i) => i != 2).ToArray();
        Assert.Equal(new[] { true, true, false, true, true }, await _node.HasAsync(chunks.Select(c => c.Id).ToArray()));
        Assert.Equal(4L, (long)_node.Store.Engine.GetStats().ChunkCount);
        var got = await _node.GetAsync(others.Select(c => c.Id).ToList());
        Assert.Equal(others.Select(c => c.Bytes), got.Select(g => g.Data));
    }

    [Fact]
    public async Task A_packed_chunk_whose_bytes_do_not_hash_to_its_id_is_refused_as_data_loss()
    {
        var chunk = TestChunks.Random(3000, 400);
        var tampered = (byte[])chunk.Bytes.Clone();
        tampered[17] ^= 1;

        var answer = await SendAsync(Packed([Header(chunk)], tampered));

        Assert.Equal(StatusCode.DataLoss, answer.Status);
        Assert.Equal(0L, (long)_node.Store.Engine.GetStats().ChunkCount);
    }
}
