using Dropbox.MetadataNode.Cluster;
using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Tokens;
using Dropbox.StorageNode.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode;

/// <summary>Wires a metadata node (store, gRPC services, garbage collector, /healthz) into a web application.</summary>
public static class MetadataNodeHost
{
    private const int MaxMessageBytes = 64 * 1024 * 1024;

    /// <summary>
    /// Builds (does not start) a metadata node. Listens with HTTP/2 over cleartext (h2c, prior knowledge) on
    /// <see cref="MetadataNodeOptions.Urls"/>; use <see cref="BoundUrls"/> after start to learn a port 0 choice.
    /// </summary>
    public static WebApplication Build(MetadataNodeOptions options, Action<ILoggingBuilder>? configureLogging = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(MetadataNodeHost).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.WebHost.UseUrls([.. options.Urls]);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.ConfigureEndpointDefaults(listen => listen.Protocols = HttpProtocols.Http2);
            kestrel.Limits.Http2.MaxStreamsPerConnection = 1000;
        });
        configureLogging?.Invoke(builder.Logging);

        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(_ => ChunkTokenService.ForKeyDirectory(options.KeysDirectory));
        services.AddSingleton<GrpcStorageNodeGateway>();
        services.AddSingleton(sp => MetadataStore.Open(
            options,
            sp.GetRequiredService<ChunkTokenService>(),
            sp.GetRequiredService<GrpcStorageNodeGateway>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("Dropbox.MetadataNode.Store")));
        services.AddSingleton<CallAuthenticator>();
        services.AddHostedService<GarbageCollectorService>();
        services.AddGrpc(grpc =>
        {
            grpc.Interceptors.Add<ErrorMappingInterceptor>();
            grpc.MaxReceiveMessageSize = MaxMessageBytes;
            grpc.MaxSendMessageSize = MaxMessageBytes;
        });
        services.AddSafeRequestParsing();

        var app = builder.Build();

        // Open the store at build time, so a locked or unreadable data directory fails fast.
        var store = app.Services.GetRequiredService<MetadataStore>();
        app.Lifetime.ApplicationStopping.Register(store.ReleaseWaiters);
        app.MapGrpcService<SyncService>();
        app.MapGrpcService<ClusterService>();
        app.MapGet("/healthz", () => "ok");
        return app;
    }

    /// <summary>The addresses the started application actually listens on (port 0 resolved).</summary>
    public static IReadOnlyList<string> BoundUrls(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var feature = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>();
        return feature?.Addresses.ToList() ?? [];
    }
}
