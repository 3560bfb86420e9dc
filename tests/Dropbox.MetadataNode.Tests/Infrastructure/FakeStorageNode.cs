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

namespace Dropbox.MetadataNode.Tests.Infrastructure;

/// <summary>
/// A tiny in-test ChunkStorage gRPC server on 127.0.0.1:0: a stand-in for the real storage node (another
/// component) that knows only which chunk ids it holds. It checks system tokens like the real one.
/// </summary>
internal sealed class FakeStorageNode : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeStorageNode(WebApplication app, string nodeId, string url, FakeHoldings holdings)
    {
        _app = app;
        NodeId = nodeId;
        Url = url;
        Holdings = holdings;
    }

    /// <summary>The real storage node's gRPC message limit (StoreLimits.MaxGrpcMessageBytes: a 1 MiB frame plus 64 KiB).</summary>
    public const int RealNodeMessageLimit = (1024 * 1024) + (64 * 1024);

    public string NodeId { get; }

    public string Url { get; }

    public FakeHoldings Holdings { get; }

    public static async Task<FakeStorageNode> StartAsync(string nodeId, string keysDirectory)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.ConfigureEndpointDefaults(l => l.Protocols = HttpProtocols.Http2));
        builder.Logging.ClearProviders();
        var holdings = new FakeHoldings(nodeId, ChunkTokenService.ForKeyDirectory(keysDirectory));
        builder.Services.AddSingleton(holdings);
        builder.Services.AddGrpc(o =>
        {
            o.Interceptors.Add<ErrorMappingInterceptor>();
            o.MaxReceiveMessageSize = RealNodeMessageLimit;
        });
        var app = builder.Build();
        app.MapGrpcService<FakeChunkStorageService>();
        await app.StartAsync();
        var url = app.Urls.First();
        return new FakeStorageNode(app, nodeId, url, holdings);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>What the fake node holds, plus a gate that can hold deletes in flight.</summary>
internal sealed class FakeHoldings
{
    public FakeHoldings(string nodeId, ChunkTokenService tokens)
    {
        NodeId = nodeId;
        Tokens = tokens;
    }

    public string NodeId { get; }

    public ChunkTokenService Tokens { get; }

    public ConcurrentDictionary<ChunkId, bool> Chunks { get; } = new();

    public Func<Task>? BeforeDelete { get; set; }

    public int Deleted;
}

internal sealed class FakeChunkStorageService : ChunkStorage.ChunkStorageBase
{
    private readonly FakeHoldings _holdings;

    public FakeChunkStorageService(FakeHoldings holdings) => _holdings = holdings;

    public override Task<HasChunksResponse> HasChunks(HasChunksRequest request, ServerCallContext context)
    {
        _holdings.Tokens.Validate(request.Token, TokenOperation.System, _holdings.NodeId);
        var response = new HasChunksResponse();
        foreach (var id in request.ChunkIds)
        {
            response.Present.Add(_holdings.Chunks.ContainsKey(id.ToChunkId()));
        }

        return Task.FromResult(response);
    }

    public override async Task<DeleteChunksResponse> DeleteChunks(DeleteChunksRequest request, ServerCallContext context)
    {
        _holdings.Tokens.Validate(request.Token, TokenOperation.System, _holdings.NodeId);
        if (_holdings.BeforeDelete is { } hook)
        {
            await hook();
        }

        uint n = 0;
        foreach (var id in request.ChunkIds)
        {
            if (_holdings.Chunks.TryRemove(id.ToChunkId(), out _))
            {
                n++;
                Interlocked.Increment(ref _holdings.Deleted);
            }
        }

        return new DeleteChunksResponse { Deleted = n };
    }
}
