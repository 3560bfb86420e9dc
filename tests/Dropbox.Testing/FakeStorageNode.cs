using System.Collections.Concurrent;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Storage;
using Dropbox.Shared.Tokens;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dropbox.Testing;

/// <summary>
/// A tiny ChunkStorage gRPC server on 127.0.0.1:0 standing in for the real storage node (another component) in
/// metadata node tests: it knows only which chunk ids it holds, answers HasChunks and DeleteChunks from that set,
/// and checks system tokens like the real one. A hook can hold a delete in flight.
/// </summary>
public sealed class FakeStorageNode : IAsyncDisposable
{
    /// <summary>The real storage node's gRPC message limit (StoreLimits.MaxGrpcMessageBytes: a 1 MiB frame plus 64 KiB).</summary>
    public const int RealNodeMessageLimit = (1024 * 1024) + (64 * 1024);

    private readonly WebApplication _app;
    private int _deleted;

    private FakeStorageNode(WebApplication app, string nodeId, ChunkTokenService tokens)
    {
        _app = app;
        NodeId = nodeId;
        Tokens = tokens;
        Url = string.Empty;
    }

    /// <summary>The node id its system tokens must name.</summary>
    public string NodeId { get; }

    /// <summary>Its gRPC URL (HTTP/2 without TLS on 127.0.0.1).</summary>
    public string Url { get; private set; }

    /// <summary>The chunk ids it holds (a test adds what a real node would have stored).</summary>
    public ConcurrentDictionary<ChunkId, bool> Chunks { get; } = new();

    /// <summary>Awaited before each delete is carried out, so a test can interleave calls.</summary>
    public Func<Task>? BeforeDelete { get; set; }

    /// <summary>Chunks deleted so far.</summary>
    public int Deleted => Volatile.Read(ref _deleted);

    private ChunkTokenService Tokens { get; }

    /// <summary>Starts a node that checks tokens with the key ring in <paramref name="keysDirectory"/>.</summary>
    public static Task<FakeStorageNode> StartAsync(string nodeId, string keysDirectory) =>
        StartAsync(nodeId, ChunkTokenService.ForKeyDirectory(keysDirectory));

    /// <summary>Starts a node that checks tokens with <paramref name="tokens"/>.</summary>
    public static async Task<FakeStorageNode> StartAsync(string nodeId, ChunkTokenService tokens)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.ConfigureEndpointDefaults(l => l.Protocols = HttpProtocols.Http2));
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc(o =>
        {
            o.Interceptors.Add<ErrorMappingInterceptor>();
            o.MaxReceiveMessageSize = RealNodeMessageLimit;
        });
        FakeStorageNode? node = null;
        builder.Services.AddSingleton(_ => new Service(node!));
        var app = builder.Build();
        node = new FakeStorageNode(app, nodeId, tokens);
        app.MapGrpcService<Service>();
        await app.StartAsync().ConfigureAwait(false);
        node.Url = app.Urls.First();
        return node;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class Service(FakeStorageNode node) : ChunkStorage.ChunkStorageBase
    {
        public override Task<HasChunksResponse> HasChunks(HasChunksRequest request, ServerCallContext context)
        {
            node.Tokens.Validate(request.Token, TokenOperation.System, node.NodeId);
            var response = new HasChunksResponse();
            response.Present.AddRange(request.ChunkIds.Select(id => node.Chunks.ContainsKey(id.ToChunkId())));
            return Task.FromResult(response);
        }

        public override async Task<DeleteChunksResponse> DeleteChunks(DeleteChunksRequest request, ServerCallContext context)
        {
            node.Tokens.Validate(request.Token, TokenOperation.System, node.NodeId);
            if (node.BeforeDelete is { } hook)
            {
                await hook().ConfigureAwait(false);
            }

            uint n = 0;
            foreach (var id in request.ChunkIds)
            {
                if (node.Chunks.TryRemove(id.ToChunkId(), out _))
                {
                    n++;
                    Interlocked.Increment(ref node._deleted);
                }
            }

            return new DeleteChunksResponse { Deleted = n };
        }
    }
}
