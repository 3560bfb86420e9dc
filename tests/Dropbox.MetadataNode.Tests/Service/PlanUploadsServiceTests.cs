using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Protos.Metadata;
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

        foreach (var call in new Func<Task>[] { () => client.PlanUploadsAsync(plan).ResponseAsync, () => client.CommitFilesAsync(commit).ResponseAsync })
        {
            var refused = await Assert.ThrowsAsync<RpcException>(call);
            Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
            Assert.Contains($"Too many chunks in one call: {2 * half}", refused.Status.Detail, StringComparison.Ordinal);
        }

        Assert.Equal(0, server.Metrics.ChunksPlanned.Value);
    }
}
