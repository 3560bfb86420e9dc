using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Protos.Metadata;
using Google.Protobuf;
using Grpc.Core;

namespace Dropbox.MetadataNode.Tests.Service;

/// <summary>PlanUploads (the batch plan) and PlanChunks through real Kestrel: their metrics and the per-call chunk cap.</summary>
public sealed class PlanUploadsServiceTests
{
    [Fact]
    public async Task Plans_made_by_PlanUploads_and_PlanChunks_count_their_chunks_puts_and_bytes_in_the_metrics()
    {
        await using var server = await MetadataServer.StartAsync();
        var (_, client) = server.AddUser("alice");
        var metrics = server.Metrics;

        await client.PlanUploadsAsync(new PlanUploadsRequest
        {
            Files =
            {
                new PlanUploadRequest { Path = "a.bin", Size = 2000, Chunks = { MetadataServer.Chunk(1), MetadataServer.Chunk(2) } },
                new PlanUploadRequest { Path = "b.bin", Size = 1000, Chunks = { MetadataServer.Chunk(3) } },
            },
        });
        Assert.Equal(3, metrics.ChunksPlanned.Value);
        Assert.Equal(3, metrics.ChunksToUpload.Value);
        Assert.Equal(3000, metrics.BytesPlanned.Value);

        await client.PlanChunksAsync(new PlanChunksRequest { Path = "big.bin", Size = 5000, Chunks = { MetadataServer.Chunk(4), MetadataServer.Chunk(1) } });
        Assert.Equal(5, metrics.ChunksPlanned.Value);
        Assert.Equal(5, metrics.ChunksToUpload.Value);
        Assert.Equal(5000, metrics.BytesPlanned.Value);
        Assert.True(metrics.PutsPlanned.Value >= 5, $"{metrics.PutsPlanned.Value} puts counted");
    }

    [Fact]
    public async Task A_compact_PlanUploads_answer_lists_each_node_and_token_once_and_names_the_same_puts_as_the_original_form()
    {
        await using var server = await MetadataServer.StartAsync();
        var (_, alice) = server.AddUser("alice");
        var (_, bob) = server.AddUser("bob");
        PlanUploadsRequest Request(bool compact)
        {
            // 40 one-chunk files: their puts share a token 16 at a time.
            var request = new PlanUploadsRequest { Compact = compact };
            request.Files.AddRange(Enumerable.Range(0, 40).Select(i => new PlanUploadRequest { Path = $"f{i}.bin", Size = 1000, Chunks = { MetadataServer.Chunk(i) } }));
            return request;
        }

        var original = await alice.PlanUploadsAsync(Request(compact: false));
        var compact = await bob.PlanUploadsAsync(Request(compact: true));

        Assert.Empty(original.Nodes);
        Assert.Empty(original.Tokens);
        Assert.Equal(compact.Tokens.Count, compact.Tokens.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(compact.Nodes.Count, compact.Nodes.Select(n => n.NodeId).Distinct(StringComparer.Ordinal).Count());
        var originalPuts = original.Results.SelectMany(r => r.Missing).ToList();
        var compactPuts = compact.Results.SelectMany(r => r.Missing).ToList();
        Assert.All(compactPuts, p =>
        {
            Assert.Null(p.Node);
            Assert.Equal(string.Empty, p.Token);
            Assert.InRange(p.NodeIndex, 0u, (uint)compact.Nodes.Count - 1);
            Assert.InRange(p.TokenIndex, 0u, (uint)compact.Tokens.Count - 1);
        });

        // The same puts, file by file, on the same nodes, the same chunks sharing a token; and each compact token is a
        // valid put token for the chunks that name it.
        Assert.Equal(original.Results.Select(r => r.Missing.Select(p => (p.ChunkId, p.Node.NodeId)).ToList()), compact.Results.Select(r => r.Missing.Select(p => (p.ChunkId, compact.Nodes[(int)p.NodeIndex].NodeId)).ToList()));
        Assert.Equal(Groups(originalPuts, p => p.Token), Groups(compactPuts, p => compact.Tokens[(int)p.TokenIndex]));
        foreach (var put in compactPuts)
        {
            server.Tokens.Validate(compact.Tokens[(int)put.TokenIndex], Dropbox.Shared.Tokens.TokenOperation.Put, compact.Nodes[(int)put.NodeIndex].NodeId, new Dropbox.Shared.Chunks.ChunkId(put.ChunkId.Span));
        }

        Assert.True(compact.Tokens.Count < compactPuts.Count / 4, $"{compact.Tokens.Count} tokens for {compactPuts.Count} puts");
        Assert.True(compact.CalculateSize() * 4 < original.CalculateSize(), $"compact answer {compact.CalculateSize()} bytes, original {original.CalculateSize()}");
    }

    // Which puts share a token, as sets of chunk ids (the tokens themselves differ from call to call).
    private static List<string> Groups(IEnumerable<ChunkPut> puts, Func<ChunkPut, string> token) =>
        [.. puts.GroupBy(token).Select(g => string.Join(",", g.Select(p => Convert.ToHexString(p.ChunkId.Span)).Order(StringComparer.Ordinal))).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task A_batch_over_the_per_call_chunk_cap_is_refused_as_such_before_any_file_is_parsed()
    {
        await using var server = await MetadataServer.StartAsync();
        var (_, client) = server.AddUser("alice");
        var half = Limits.MaxChunksPerFile / 2 + 1;
        var chunks = Enumerable.Range(0, half).Select(i => MetadataServer.Chunk(i, 1)).ToArray();

        // File #0 is malformed too (an empty path): the cheap cap on the raw request answers first.
        var plan = new PlanUploadsRequest
        {
            Files =
            {
                new PlanUploadRequest { Path = string.Empty, Size = (ulong)half, Chunks = { chunks } },
                new PlanUploadRequest { Path = "b.bin", Size = (ulong)half, Chunks = { chunks } },
            },
        };
        var commit = new CommitFilesRequest
        {
            Files =
            {
                new CommitFileRequest { Path = string.Empty, Size = (ulong)half, Chunks = { chunks } },
                new CommitFileRequest { Path = "b.bin", Size = (ulong)half, Chunks = { chunks } },
            },
        };

        var refusedPlan = await Assert.ThrowsAsync<RpcException>(() => client.PlanUploadsAsync(plan).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, refusedPlan.StatusCode);
        Assert.Contains($"Too many chunks in one PlanUploads call: {2 * half}", refusedPlan.Status.Detail, StringComparison.Ordinal);
        var refusedCommit = await Assert.ThrowsAsync<RpcException>(() => client.CommitFilesAsync(commit).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, refusedCommit.StatusCode);
        Assert.Contains($"Too many chunks in one call: {2 * half}", refusedCommit.Status.Detail, StringComparison.Ordinal);

        Assert.Equal(0, server.Metrics.ChunksPlanned.Value);
    }

    [Fact]
    public async Task A_PlanUploads_of_100000_new_chunks_is_refused_naming_the_limit_and_one_at_the_limit_is_answered_within_the_message_limit()
    {
        // Arrange: 1000 files of 100 new chunks each: their answer would carry 100,000 puts, each with a ~1 KB shared
        // token, ~110 MB, over the 64 MiB message limit, after signing 6,250 tokens.
        await using var server = await MetadataServer.StartAsync();
        var (_, client) = server.AddUser("alice");
        PlanUploadsRequest Files(int files, int chunksEach, int seed)
        {
            var request = new PlanUploadsRequest();
            for (var f = 0; f < files; f++)
            {
                request.Files.Add(new PlanUploadRequest
                {
                    Path = $"many/{seed}/{f}.bin",
                    Size = (ulong)chunksEach,
                    Chunks = { Enumerable.Range(0, chunksEach).Select(c => MetadataServer.Chunk(seed + (f * chunksEach) + c, 1)) },
                });
            }

            return request;
        }

        // Act
        var refused = await Assert.ThrowsAsync<RpcException>(() => client.PlanUploadsAsync(Files(1000, 100, 0)).ResponseAsync);
        var atLimit = await client.PlanUploadsAsync(Files(Limits.MaxChunksPerPlanBatch / 16, 16, 1_000_000));

        // Assert: a clear refusal naming the limit (not the transport's "message too large"), nothing planned; the
        // largest accepted call is answered in full, well inside the 64 MiB limit.
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Contains($"MaxChunksPerPlanBatch = {Limits.MaxChunksPerPlanBatch}", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("100000", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(Limits.MaxChunksPerPlanBatch, atLimit.Results.Sum(r => r.Missing.Count));
        Assert.True(atLimit.CalculateSize() < 16 << 20, $"{atLimit.CalculateSize()} bytes for {Limits.MaxChunksPerPlanBatch} chunks");
        Assert.Equal(Limits.MaxChunksPerPlanBatch, server.Metrics.ChunksPlanned.Value);
    }
}
