using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tokens;
using Google.Protobuf;
using Grpc.Core;

namespace Dropbox.MetadataNode.Tests.Service;

/// <summary>Every file the server accepts can be downloaded: its plan comes in pages, each far below the message limit.</summary>
public sealed class LargeFileDownloadPlanTests
{
    private const int Chunks = 100_000;

    [Fact]
    public async Task DownloadPlan_OfAHundredThousandChunkFile_ComesInCompactPages_ThroughRealGrpc()
    {
        await using var server = await MetadataServer.StartAsync();
        var (alice, client) = server.AddUser("alice");
        var chunks = Enumerable.Range(0, Chunks).Select(i => MetadataServer.Chunk(i, 100)).ToList();

        // The storage node reports alice's upload of every chunk (as after real puts), then she commits the file.
        var report = new ReportChunksStoredRequest { NodeId = server.Node.NodeId };
        report.Chunks.AddRange(chunks.Select(c => new StoredChunk { ChunkId = c.Id, Size = c.Size, StoredSize = c.StoredSize, NamespaceId = alice.Namespace.Value }));
        await server.Cluster().ReportChunksStoredAsync(report);
        var commit = await client.CommitFileAsync(new CommitFileRequest { Path = "big.bin", Size = (ulong)Chunks * 100, Chunks = { chunks }, Device = "t" });

        // The whole plan in one answer would pass the 64 MiB limit: refused cleanly, pointing at pages.
        var whole = await Assert.ThrowsAsync<RpcException>(() => client.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = "big.bin" }).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, whole.StatusCode);
        Assert.Contains("pages", whole.Status.Detail);

        var seen = new List<ByteString>(Chunks);
        uint offset = 0;
        var pages = 0;
        while (true)
        {
            var page = await client.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = "big.bin", Version = commit.Entry.Version, Offset = offset, Limit = 100_000 });
            pages++;
            Assert.True(page.CalculateSize() < 8 << 20, $"page {pages} is {page.CalculateSize()} bytes");
            Assert.Equal((uint)Chunks, page.TotalChunks);
            Assert.Equal(commit.Entry.Version, page.Entry.Version);
            Assert.Empty(page.Entry.Chunks);
            Assert.Single(page.Nodes); // each node once per page, not once per chunk
            Assert.True(page.Tokens.Count <= (page.Chunks.Count + Dropbox.MetadataNode.Domain.Limits.ChunksPerGetToken - 1) / Dropbox.MetadataNode.Domain.Limits.ChunksPerGetToken, $"{page.Tokens.Count} tokens for {page.Chunks.Count} chunks on one node");
            foreach (var get in page.Chunks)
            {
                seen.Add(get.Chunk.Id);
                Assert.Equal(server.Node.NodeId, page.Nodes[(int)get.NodeIndexes.Single()].NodeId);
            }

            var last = page.Chunks[^1];
            var token = server.Tokens.Validate(page.Tokens[(int)last.TokenIndexes.Single()], TokenOperation.Get, server.Node.NodeId, last.Chunk.Id.ToChunkId());
            Assert.Equal(alice.Namespace.Value, token.Namespace);
            offset += (uint)page.Chunks.Count;
            if (!page.HasMore)
            {
                break;
            }

            Assert.True(pages < 100);
        }

        Assert.Equal(chunks.Select(c => c.Id), seen);
        Assert.Equal(Chunks / Domain.Limits.MaxDownloadPlanPage, pages);
        server.AssertNoErrorsLogged();
    }

    [Fact]
    public async Task DownloadPlan_OfASmallFile_StillComesWhole_InTheOriginalForm()
    {
        await using var server = await MetadataServer.StartAsync();
        var (alice, client) = server.AddUser("alice");
        var c1 = MetadataServer.Chunk(1);
        await server.PutFileAsync(client, alice, "a", 0, c1);

        var plan = await client.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = "a" });
        var page = await client.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = "a", Limit = 10 });
        var past = await Assert.ThrowsAsync<RpcException>(() => client.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = "a", Offset = 2, Limit = 10 }).ResponseAsync);

        Assert.Equal([c1.Id], plan.Chunks.Select(c => c.Chunk.Id));
        Assert.Single(plan.Chunks[0].Nodes);
        Assert.Single(plan.Chunks[0].Tokens);
        Assert.Equal([c1.Id], plan.Entry.Chunks.Select(c => c.Id));
        Assert.False(page.HasMore);
        Assert.Equal([0u], page.Chunks[0].NodeIndexes);
        Assert.Equal(StatusCode.InvalidArgument, past.StatusCode);
    }
}
