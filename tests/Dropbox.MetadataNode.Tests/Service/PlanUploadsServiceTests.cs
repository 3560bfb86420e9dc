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
