using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Protos.Metadata;
using Grpc.Core;

namespace Dropbox.MetadataNode.Tests.Service;

/// <summary>PlanChunks (the one-read upload's windowed plan) through real Kestrel and a real storage node.</summary>
public sealed class PlanChunksServiceTests
{
    [Fact]
    public async Task A_file_planned_in_windows_uploads_and_commits_with_its_whole_chunk_list()
    {
        await using var server = await MetadataServer.StartAsync();
        var (alice, client) = server.AddUser("alice");
        var chunks = Enumerable.Range(1, 5).Select(i => MetadataServer.Chunk(i)).ToArray();

        foreach (var window in chunks.Chunk(2))
        {
            var plan = await client.PlanChunksAsync(new PlanChunksRequest { Path = "big.bin", Size = 5000, Chunks = { window } });
            Assert.Equal(window.Select(c => c.Id), plan.Missing.Select(m => m.ChunkId));
            await server.UploadAsync(plan, window, alice.Namespace.Value);
        }

        var commit = await client.CommitFileAsync(new CommitFileRequest { Path = "big.bin", Size = 5000, Chunks = { chunks }, Device = "laptop" });

        Assert.Equal(chunks.Select(c => c.Id), commit.Entry.Chunks.Select(c => c.Id));
        Assert.Empty((await client.PlanChunksAsync(new PlanChunksRequest { Path = "copy.bin", Size = 5000, Chunks = { chunks } })).Missing);
        server.AssertNoErrorsLogged();
    }

    [Fact]
    public async Task Hostile_windows_get_clear_status_codes_and_no_call_without_a_user_token()
    {
        await using var server = await MetadataServer.StartAsync();
        var (_, client) = server.AddUser("alice");
        var oversize = new PlanChunksRequest { Path = "big.bin", Size = ulong.MaxValue };
        oversize.Chunks.Add(Enumerable.Range(0, Limits.MaxChunksPerWindow + 1).Select(i => MetadataServer.Chunk(i, 1)));

        var tooMany = await Assert.ThrowsAsync<RpcException>(() => client.PlanChunksAsync(oversize).ResponseAsync);
        var overSize = await Assert.ThrowsAsync<RpcException>(() => client.PlanChunksAsync(new PlanChunksRequest { Path = "a", Size = 10, Chunks = { MetadataServer.Chunk(1) } }).ResponseAsync);
        var badPath = await Assert.ThrowsAsync<RpcException>(() => client.PlanChunksAsync(new PlanChunksRequest { Path = "/../x", Size = 1000, Chunks = { MetadataServer.Chunk(1) } }).ResponseAsync);
        var anonymous = await Assert.ThrowsAsync<RpcException>(() => server.SyncClient(null).PlanChunksAsync(new PlanChunksRequest { Path = "a", Size = 1000, Chunks = { MetadataServer.Chunk(1) } }).ResponseAsync);

        Assert.Equal(StatusCode.ResourceExhausted, tooMany.StatusCode);
        Assert.Contains("MaxChunksPerWindow", tooMany.Status.Detail);
        Assert.Equal(StatusCode.InvalidArgument, overSize.StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, badPath.StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, anonymous.StatusCode);
    }
}
