using Dropbox.Shared.Channels;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Tls;
using Dropbox.Shared.Tokens;
using Dropbox.StorageNode;
using Dropbox.StorageNode.Store;
using Dropbox.SyncClient.Remote;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dropbox.IntegrationTests.Storage;

/// <summary>
/// The client's gRPC chunk transfer against a real storage node (Kestrel on 127.0.0.1:0): small chunks go several to a
/// message from the first call on (the node's answer says it takes them, so they keep going packed), larger ones as a
/// header and data frames between packs, and every chunk comes back byte for byte.
/// </summary>
public sealed class PackedPutTransferTests : IAsyncLifetime
{
    private const string NodeId = "node-packed";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly TempFolder _dir = new();
    private ChunkTokenService _tokens = null!;
    private WebApplication _app = null!;
    private string _grpcUrl = string.Empty;

    public async Task InitializeAsync()
    {
        _tokens = ChunkTokenService.ForKeyDirectory(_dir.CreateSub("keys"));
        var options = SmallStorageNode.Options(_dir.CreateSub("data"), _dir.CreateSub("keys"), NodeId);
        _app = StorageNodeHost.Build(options, logging => logging.SetMinimumLevel(LogLevel.Warning));
        await _app.StartAsync();
        (_grpcUrl, _) = await _app.Services.GetRequiredService<NodeAddresses>().WhenBound.WaitAsync(Timeout);
    }

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _dir.Dispose();
    }

    private OutgoingChunk Outgoing(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        var id = ChunkId.Compute(bytes);
        return new OutgoingChunk(id, ChunkEncoding.Raw, size, _tokens.Issue(TokenOperation.Put, "ns", NodeId, [id], TimeSpan.FromMinutes(5)), bytes);
    }

    [Fact]
    public async Task Small_chunks_go_packed_to_a_node_that_takes_them_and_every_chunk_comes_back_byte_for_byte()
    {
        using var channels = ClientChannels.Create(ServerTrust.System);
        var transfer = new GrpcChunkTransfer(channels);
        // Sizes up to and past the packed limits: many small chunks (several packed messages), one just at the
        // largest packed size, one just over it (sent as header and data frames between packs), an empty one.
        var first = Enumerable.Range(0, 5).Select(i => Outgoing(1000 + i, i)).ToList();
        var second = Enumerable.Range(0, 300).Select(i => Outgoing(1024 + ((i * 977) % 7000), 1000 + i)).ToList();
        second.Insert(100, Outgoing(PackedChunkLimits.MaxChunkBytes, 5000));
        second.Insert(200, Outgoing(PackedChunkLimits.MaxChunkBytes + 1, 5001));
        second.Add(Outgoing(0, 5002));

        Assert.True(transfer.SendsPacked(_grpcUrl));
        await transfer.PutChunksAsync(_grpcUrl, first, CancellationToken.None).WaitAsync(Timeout);
        Assert.True(transfer.SendsPacked(_grpcUrl));
        await transfer.PutChunksAsync(_grpcUrl, second, CancellationToken.None).WaitAsync(Timeout);

        var all = first.Concat(second).ToList();
        var getToken = _tokens.Issue(TokenOperation.Get, "ns", NodeId, all.Select(c => c.Id).ToArray(), TimeSpan.FromMinutes(5));
        var got = await transfer.GetChunksAsync(_grpcUrl, all.Select(c => c.Id).ToList(), getToken, CancellationToken.None).WaitAsync(Timeout);
        try
        {
            Assert.Equal(all.Count, got.Count);
            for (var i = 0; i < all.Count; i++)
            {
                Assert.Equal(all[i].Id, got[i].Id);
                Assert.Equal(all[i].Stored.ToArray(), got[i].Stored.Span.ToArray());
            }
        }
        finally
        {
            foreach (var chunk in got)
            {
                chunk.Dispose();
            }
        }

        Assert.Equal((long)all.Count, _app.Services.GetRequiredService<ChunkStore>().Engine.GetStats().ChunkCount);
    }
}
