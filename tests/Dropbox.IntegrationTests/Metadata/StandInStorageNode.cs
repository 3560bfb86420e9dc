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

// Not "...Metadata": that namespace would shadow Grpc.Core.Metadata for every sibling test folder.
namespace Dropbox.IntegrationTests.MetadataNodeTests;

/// <summary>
/// An in-test ChunkStorage server on 127.0.0.1:0 standing in for the storage node (another component):
/// it answers HasChunks/DeleteChunks from a set of ids and checks system tokens like the real one.
/// </summary>
internal sealed class StandInStorageNode : IAsyncDisposable
{
    private readonly WebApplication _app;

    private StandInStorageNode(WebApplication app, string url, ConcurrentDictionary<ChunkId, bool> chunks)
    {
        _app = app;
        Url = url;
        Chunks = chunks;
    }

    public const string NodeId = "standin-1";

    public string Url { get; }

    public ConcurrentDictionary<ChunkId, bool> Chunks { get; }

    public static async Task<StandInStorageNode> StartAsync(ChunkTokenService tokens)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.ConfigureEndpointDefaults(l => l.Protocols = HttpProtocols.Http2));
        builder.Logging.ClearProviders();
        var chunks = new ConcurrentDictionary<ChunkId, bool>();
        builder.Services.AddSingleton(new Service(chunks, tokens));
        builder.Services.AddGrpc(o => o.Interceptors.Add<ErrorMappingInterceptor>());
        var app = builder.Build();
        app.MapGrpcService<Service>();
        await app.StartAsync();
        return new StandInStorageNode(app, app.Urls.First(), chunks);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    internal sealed class Service(ConcurrentDictionary<ChunkId, bool> chunks, ChunkTokenService tokens) : ChunkStorage.ChunkStorageBase
    {
        public override Task<HasChunksResponse> HasChunks(HasChunksRequest request, ServerCallContext context)
        {
            tokens.Validate(request.Token, TokenOperation.System, NodeId);
            var response = new HasChunksResponse();
            response.Present.AddRange(request.ChunkIds.Select(id => chunks.ContainsKey(id.ToChunkId())));
            return Task.FromResult(response);
        }

        public override Task<DeleteChunksResponse> DeleteChunks(DeleteChunksRequest request, ServerCallContext context)
        {
            tokens.Validate(request.Token, TokenOperation.System, NodeId);
            var n = request.ChunkIds.Count(id => chunks.TryRemove(id.ToChunkId(), out _));
            return Task.FromResult(new DeleteChunksResponse { Deleted = (uint)n });
        }
    }
}
