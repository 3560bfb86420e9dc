using System.Collections.Concurrent;
using System.Security.Cryptography;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Storage;
using Dropbox.Shared.Tokens;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Dropbox.IntegrationTests.Storage;

public sealed class StorageNodeCrashTests : IDisposable
{
    private const string NodeId = "crash-node";
    private const int ChunkSize = 256 * 1024;
    private const int ChunksPerCall = 4;
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    [Trait("Category", "Slow")]
    public async Task SIGKILL_while_a_client_streams_chunks_loses_no_acknowledged_chunk()
    {
        var data = _dir.Sub("data");
        var keys = _dir.Sub("keys");
        var tokens = ChunkTokenService.ForKeyDirectory(keys);
        var system = tokens.Issue(TokenOperation.System, NamespaceId.SystemValue, NodeId, Array.Empty<ChunkId>(), TimeSpan.FromMinutes(10));
        var acknowledged = new ConcurrentDictionary<ChunkId, byte[]>();
        var attempted = new ConcurrentDictionary<ChunkId, byte[]>();

        using (var node = await StorageNodeProcess.StartAsync(data, keys, NodeId))
        {
            using var channel = GrpcChannel.ForAddress(node.GrpcUrl);
            var client = new ChunkStorage.ChunkStorageClient(channel);
            using var stop = new CancellationTokenSource();
            var streamer = Task.Run(async () =>
            {
                var seed = 0;
                for (var call = 0; call < 10_000 && !stop.IsCancellationRequested; call++)
                {
                    var chunks = Enumerable.Range(0, ChunksPerCall).Select(_ => Random(seed++)).ToList();
                    foreach (var (id, bytes) in chunks)
                    {
                        attempted[id] = bytes;
                    }

                    try
                    {
                        await PutAsync(client, tokens, chunks);
                    }
                    catch (RpcException)
                    {
                        return; // the node died mid-call: nothing of this call was acknowledged
                    }

                    foreach (var (id, bytes) in chunks)
                    {
                        acknowledged[id] = bytes;
                    }
                }
            });

            // Kill once a fair number of calls have been acknowledged, while the stream is still running.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (acknowledged.Count < 12 * ChunksPerCall && DateTime.UtcNow < deadline && !streamer.IsCompleted)
            {
                await Task.Delay(10);
            }

            Assert.False(streamer.IsCompleted, "the stream should still be running when the node is killed");
            node.Kill();
            await stop.CancelAsync();
            await streamer.WaitAsync(TimeSpan.FromSeconds(30));
        }

        Assert.True(acknowledged.Count >= 12 * ChunksPerCall);

        using (var node = await StorageNodeProcess.StartAsync(data, keys, NodeId))
        {
            using var channel = GrpcChannel.ForAddress(node.GrpcUrl, new GrpcChannelOptions { MaxReceiveMessageSize = 8 << 20 });
            var client = new ChunkStorage.ChunkStorageClient(channel);

            var has = new HasChunksRequest { Token = system };
            has.ChunkIds.AddRange(acknowledged.Keys.Select(k => k.ToByteString()));
            var present = (await client.HasChunksAsync(has)).Present;
            Assert.All(present, Assert.True);

            var ids = acknowledged.Keys.ToList();
            var got = await GetAsync(client, tokens, ids);
            Assert.Equal(ids.Count, got.Count);
            foreach (var id in ids)
            {
                Assert.Equal(acknowledged[id], got[id]);
            }

            // Chunks that were in flight at the kill are either fully there or absent, never torn.
            var unacknowledged = attempted.Keys.Where(k => !acknowledged.ContainsKey(k)).ToList();
            var hasMore = new HasChunksRequest { Token = system };
            hasMore.ChunkIds.AddRange(unacknowledged.Select(k => k.ToByteString()));
            var morePresent = (await client.HasChunksAsync(hasMore)).Present;
            var survivors = unacknowledged.Where((_, i) => morePresent[i]).ToList();
            if (survivors.Count > 0)
            {
                var survivorBytes = await GetAsync(client, tokens, survivors);
                Assert.All(survivors, id => Assert.Equal(id, ChunkId.Compute(survivorBytes[id])));
            }
        }
    }

    private static (ChunkId Id, byte[] Bytes) Random(int seed)
    {
        var bytes = new byte[ChunkSize];
        new Random(seed).NextBytes(bytes);
        return (ChunkId.Compute(bytes), bytes);
    }

    private static async Task PutAsync(ChunkStorage.ChunkStorageClient client, ChunkTokenService tokens, IReadOnlyList<(ChunkId Id, byte[] Bytes)> chunks)
    {
        using var call = client.PutChunks();
        try
        {
            foreach (var (id, bytes) in chunks)
            {
                var token = tokens.Issue(TokenOperation.Put, "ns-crash", NodeId, new[] { id }, TimeSpan.FromMinutes(10));
                await call.RequestStream.WriteAsync(new PutChunkRequest { Header = new ChunkHeader { ChunkId = id.ToByteString(), PlainSize = (uint)bytes.Length, StoredSize = (uint)bytes.Length, Token = token } });
                await call.RequestStream.WriteAsync(new PutChunkRequest { Data = ByteString.CopyFrom(bytes) });
            }

            await call.RequestStream.CompleteAsync();
        }
        catch (Exception ex) when (ex is RpcException or InvalidOperationException or IOException)
        {
            // Fall through: the call's status says what happened.
        }

        var response = await call;
        if (response.Results.Count != chunks.Count)
        {
            throw new InvalidOperationException($"Expected {chunks.Count} results, got {response.Results.Count}.");
        }
    }

    private static async Task<Dictionary<ChunkId, byte[]>> GetAsync(ChunkStorage.ChunkStorageClient client, ChunkTokenService tokens, IReadOnlyList<ChunkId> ids)
    {
        var request = new GetChunksRequest { Token = tokens.Issue(TokenOperation.Get, "ns-crash", NodeId, ids, TimeSpan.FromMinutes(10)) };
        request.ChunkIds.AddRange(ids.Select(i => i.ToByteString()));
        using var call = client.GetChunks(request);
        var result = new Dictionary<ChunkId, byte[]>();
        ChunkId current = default;
        MemoryStream? data = null;
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            var message = call.ResponseStream.Current;
            if (message.PartCase == GetChunkResponse.PartOneofCase.Header)
            {
                if (data is not null)
                {
                    result[current] = data.ToArray();
                }

                current = message.Header.ChunkId.ToChunkId();
                data = new MemoryStream();
            }
            else
            {
                message.Data.WriteTo(data!);
            }
        }

        if (data is not null)
        {
            result[current] = data.ToArray();
        }

        return result;
    }
}
