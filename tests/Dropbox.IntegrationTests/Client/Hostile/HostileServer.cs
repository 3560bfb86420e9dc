using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dropbox.IntegrationTests.Client.Hostile;

/// <summary>
/// A fake metadata node and a fake storage node as real gRPC servers (the generated service bases from the .proto
/// files) on Kestrel, 127.0.0.1:0 each, so the client's real network code talks to them.
/// </summary>
internal sealed class HostileServer : IAsyncDisposable
{
    private readonly WebApplication _metadata;
    private readonly WebApplication _storage;

    private HostileServer(WebApplication metadata, WebApplication storage, HostileWorld world)
    {
        _metadata = metadata;
        _storage = storage;
        World = world;
    }

    public HostileWorld World { get; }

    public string MetadataUrl => _metadata.Urls.First();

    public static async Task<HostileServer> StartAsync()
    {
        var world = new HostileWorld();
        var storage = await StartAppAsync<HostileStorageService>(world);
        world.StorageUrl = storage.Urls.First();
        var metadata = await StartAppAsync<HostileSyncService>(world);
        return new HostileServer(metadata, storage, world);
    }

    private static async Task<WebApplication> StartAppAsync<TService>(HostileWorld world)
        where TService : class
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.ConfigureEndpointDefaults(l => l.Protocols = HttpProtocols.Http2));
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(world);
        builder.Services.AddGrpc(o => o.MaxReceiveMessageSize = 64 << 20);
        var app = builder.Build();
        app.MapGrpcService<TService>();
        await app.StartAsync();
        return app;
    }

    public async ValueTask DisposeAsync()
    {
        await _metadata.StopAsync();
        await _metadata.DisposeAsync();
        await _storage.StopAsync();
        await _storage.DisposeAsync();
    }
}
