using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Storage;
using Dropbox.Shared.Tokens;
using Dropbox.StorageNode;
using Dropbox.StorageNode.Store;
using Google.Protobuf;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ProtoEncoding = Dropbox.Shared.Protos.Common.ChunkEncoding;

namespace Dropbox.StorageNode.Tests.Services;

/// <summary>A real storage node on 127.0.0.1:0 (Kestrel), with a temp data dir and key ring, and clients for it.</summary>
public sealed class NodeFixture : IAsyncDisposable
{
    public const string Namespace = "ns-test";

    private readonly TempFolder _dir;
    private readonly bool _ownsDir;
    private WebApplication? _app;
    private GrpcChannel? _channel;

    private NodeFixture(TempFolder dir, bool ownsDir, StorageNodeOptions options)
    {
        _dir = dir;
        _ownsDir = ownsDir;
        Options = options;
        Tokens = ChunkTokenService.ForKeyDirectory(options.KeysDirectory);
        // Create the key ring before the node reads it, so both sides share one key.
        Tokens.Issue(TokenOperation.System, NamespaceId.SystemValue, NodeIdValue, Array.Empty<ChunkId>(), TimeSpan.FromMinutes(1));
    }

    public const string NodeIdValue = "node-a";

    public StorageNodeOptions Options { get; }

    public ChunkTokenService Tokens { get; }

    public string GrpcUrl { get; private set; } = string.Empty;

    public string HttpUrl { get; private set; } = string.Empty;

    public ChunkStorage.ChunkStorageClient Client { get; private set; } = null!;

    public HttpClient Http { get; } = new();

    public ChunkStore Store => _app!.Services.GetRequiredService<ChunkStore>();

    public IServiceProvider Services => _app!.Services;

    public static Task<NodeFixture> StartAsync(Func<StorageNodeOptions, StorageNodeOptions>? configure = null, TempFolder? dir = null)
    {
        var owns = dir is null;
        dir ??= new TempFolder();
        var options = new StorageNodeOptions
        {
            DataDirectory = dir.Sub("data"),
            KeysDirectory = dir.Sub("keys"),
            GrpcUrl = "http://127.0.0.1:0",
            NodeId = NodeIdValue,
            IndexSizeBytes = 1L << 16,
            IndexMemoryBytes = 1L << 22,
            CheckpointInterval = TimeSpan.Zero,
            CompactionInterval = TimeSpan.Zero,
            MaxRetryDelay = TimeSpan.FromMilliseconds(200),
        };
        options = configure?.Invoke(options) ?? options;
        return new NodeFixture(dir, owns, options).StartNodeAsync();
    }

    private async Task<NodeFixture> StartNodeAsync()
    {
        _app = StorageNodeHost.Build(Options, logging => logging.SetMinimumLevel(LogLevel.Warning));
        await _app.StartAsync();
        (GrpcUrl, HttpUrl) = await _app.Services.GetRequiredService<NodeAddresses>().WhenBound.WaitAsync(TimeSpan.FromSeconds(30));
        _channel = GrpcChannel.ForAddress(GrpcUrl, new GrpcChannelOptions { MaxSendMessageSize = 8 << 20, MaxReceiveMessageSize = 8 << 20 });
        Client = new ChunkStorage.ChunkStorageClient(_channel);
        return this;
    }

    /// <summary>Stops the node cleanly and starts it again on the same data (new ports).</summary>
    public async Task RestartAsync()
    {
        await StopNodeAsync();
        await StartNodeAsync();
    }

    private async Task StopNodeAsync()
    {
        _channel?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            _app = null;
        }
    }

    public string PutToken(ChunkId id, string node = NodeIdValue) =>
        Tokens.Issue(TokenOperation.Put, Namespace, node, new[] { id }, TimeSpan.FromMinutes(5));

    public string GetToken(params ChunkId[] ids) =>
        Tokens.Issue(TokenOperation.Get, Namespace, NodeIdValue, ids, TimeSpan.FromMinutes(5));

    public string SystemToken() =>
        Tokens.Issue(TokenOperation.System, NamespaceId.SystemValue, NodeIdValue, Array.Empty<ChunkId>(), TimeSpan.FromMinutes(5));

    /// <summary>Streams chunks in one PutChunks call, each as a header and ≤ 1 MiB data frames.</summary>
    public async Task<PutChunksResponse> PutAsync(IEnumerable<(ChunkId Id, byte[] Stored, int PlainSize, ProtoEncoding Encoding, string Token)> chunks)
    {
        using var call = Client.PutChunks();
        try
        {
            await WriteAllAsync(call, chunks);
        }
        catch (Grpc.Core.RpcException)
        {
            // The server ended the call early: its status is the real answer.
            return await call;
        }

        return await call;
    }

    private static async Task WriteAllAsync(Grpc.Core.AsyncClientStreamingCall<PutChunkRequest, PutChunksResponse> call, IEnumerable<(ChunkId Id, byte[] Stored, int PlainSize, ProtoEncoding Encoding, string Token)> chunks)
    {
        foreach (var (id, stored, plainSize, encoding, token) in chunks)
        {
            await call.RequestStream.WriteAsync(new PutChunkRequest
            {
                Header = new ChunkHeader { ChunkId = id.ToByteString(), Encoding = encoding, PlainSize = (uint)plainSize, StoredSize = (uint)stored.Length, Token = token },
            });
            for (var offset = 0; offset < stored.Length; offset += StoreLimits.MaxFrameBytes)
            {
                var length = Math.Min(StoreLimits.MaxFrameBytes, stored.Length - offset);
                await call.RequestStream.WriteAsync(new PutChunkRequest { Data = ByteString.CopyFrom(stored, offset, length) });
            }
        }

        await call.RequestStream.CompleteAsync();
    }

    public Task<PutChunksResponse> PutRawAsync(params (ChunkId Id, byte[] Bytes)[] chunks) =>
        PutAsync(chunks.Select(c => (c.Id, c.Bytes, c.Bytes.Length, ProtoEncoding.Raw, PutToken(c.Id))));

    /// <summary>Reads chunks back in one GetChunks call.</summary>
    public async Task<List<(ChunkHeader Header, byte[] Data)>> GetAsync(IReadOnlyList<ChunkId> ids, string? token = null, bool acceptLz4 = false)
    {
        var request = new GetChunksRequest { Token = token ?? GetToken(ids.ToArray()), AcceptLz4 = acceptLz4 };
        request.ChunkIds.AddRange(ids.Select(i => i.ToByteString()));
        using var call = Client.GetChunks(request);
        var result = new List<(ChunkHeader, byte[])>();
        ChunkHeader? header = null;
        var data = new MemoryStream();
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            var message = call.ResponseStream.Current;
            if (message.PartCase == GetChunkResponse.PartOneofCase.Header)
            {
                if (header is not null)
                {
                    result.Add((header, data.ToArray()));
                }

                header = message.Header;
                data = new MemoryStream();
            }
            else
            {
                message.Data.WriteTo(data);
            }
        }

        if (header is not null)
        {
            result.Add((header, data.ToArray()));
        }

        return result;
    }

    public async Task<bool[]> HasAsync(params ChunkId[] ids)
    {
        var request = new HasChunksRequest { Token = SystemToken() };
        request.ChunkIds.AddRange(ids.Select(i => i.ToByteString()));
        var response = await Client.HasChunksAsync(request);
        return response.Present.ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        await StopNodeAsync();
        Http.Dispose();
        if (_ownsDir)
        {
            _dir.Dispose();
        }
    }
}
