using Dropbox.Hosting;
using Dropbox.MetadataNode.Cluster;
using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Tls;
using Dropbox.Shared.Tokens;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode;

/// <summary>
/// Wires a metadata node (store, gRPC services, garbage collector, <c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c>) into
/// a web application.
/// </summary>
public static class MetadataNodeHost
{
    private const int MaxMessageBytes = 64 * 1024 * 1024;

    /// <summary>
    /// Builds (does not start) a metadata node. Listens on <see cref="MetadataNodeOptions.Urls"/>: TLS with
    /// <see cref="MetadataNodeOptions.TlsCertificate"/> on https URLs (HTTP/2 and HTTP/1.1 by ALPN), cleartext HTTP/2
    /// (h2c, prior knowledge) on http ones; and HTTP/1.1 on <see cref="MetadataNodeOptions.HttpUrl"/> if given. Use
    /// <see cref="BoundUrls"/> and <see cref="HttpUrl"/> after start to learn a port 0 choice. Refuses plaintext beyond
    /// loopback unless <see cref="MetadataNodeOptions.InsecureHttp"/>, before it touches the data directory.
    /// </summary>
    public static WebApplication Build(MetadataNodeOptions options, Action<ILoggingBuilder>? configureLogging = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ListenGuard.Check([.. options.Urls, .. options.HttpUrl is null ? Array.Empty<string>() : [options.HttpUrl], options.MetricsUrl], options.TlsCertificate is not null, options.InsecureHttp);
        var grpcUris = options.Urls.Select(ListenEndpoint.Parse).ToList();
        var httpUri = options.HttpUrl is null ? null : ListenEndpoint.Parse(options.HttpUrl);
        var metricsUri = ListenEndpoint.Parse(options.MetricsUrl);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(MetadataNodeHost).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        var endpoints = new MetadataNodeEndpoints();
        var operators = new OperatorListener();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.Http2.MaxStreamsPerConnection = 1000;
            // Kestrel's default body limit (30 MB) is below the largest gRPC message this node reads (64 MiB): a unary
            // call between the two would end in Kestrel's exception, answered as UNKNOWN. gRPC refuses a message over
            // MaxMessageBytes by its length prefix (RESOURCE_EXHAUSTED) before reading it, so this limit is never reached.
            kestrel.Limits.MaxRequestBodySize = MaxMessageBytes + (1L << 20);
            endpoints.Grpc.Clear();
            foreach (var uri in grpcUris)
            {
                kestrel.Listen(ListenEndpoint.ToEndpoint(uri), listen =>
                {
                    // Over TLS, ALPN lets one port serve gRPC (h2) and HTTP/1.1 probes; cleartext must pick one: h2c.
                    var tls = uri.Scheme == Uri.UriSchemeHttps;
                    listen.Protocols = tls ? HttpProtocols.Http1AndHttp2 : HttpProtocols.Http2;
                    if (tls)
                    {
                        listen.UseHttps(options.TlsCertificate!);
                    }

                    endpoints.Grpc.Add((uri.Scheme, listen));
                });
            }

            if (httpUri is not null)
            {
                kestrel.Listen(ListenEndpoint.ToEndpoint(httpUri), listen =>
                {
                    listen.Protocols = HttpProtocols.Http1;
                    if (httpUri.Scheme == Uri.UriSchemeHttps)
                    {
                        listen.UseHttps(options.TlsCertificate!);
                    }

                    endpoints.Http = (httpUri.Scheme, listen);
                });
            }

            kestrel.Listen(ListenEndpoint.ToEndpoint(metricsUri), listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                if (metricsUri.Scheme == Uri.UriSchemeHttps)
                {
                    listen.UseHttps(options.TlsCertificate!);
                }

                operators.Attach(metricsUri.Scheme, listen);
            });
        });
        configureLogging?.Invoke(builder.Logging);

        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(endpoints);
        services.AddSingleton(operators);
        services.AddNodeObservability().AddCheck<MetadataReadinessCheck>("metadata");
        services.AddSingleton<MetadataMetrics>();
        services.AddSingleton(_ => ChunkTokenService.ForKeyDirectory(options.KeysDirectory));
        services.AddSingleton(sp => new GrpcStorageNodeGateway(sp.GetRequiredService<ChunkTokenService>(), options.NodeTrust));
        services.AddSingleton(sp => MetadataStore.Open(
            options,
            sp.GetRequiredService<ChunkTokenService>(),
            sp.GetRequiredService<GrpcStorageNodeGateway>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("Dropbox.MetadataNode.Store")));
        services.AddSingleton<CallAuthenticator>();
        services.AddSingleton(sp => new Domain.Backups.OnlineCheck(
            sp.GetRequiredService<MetadataStore>(),
            sp.GetRequiredService<GrpcStorageNodeGateway>(),
            options,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("Dropbox.MetadataNode.Backup")));
        services.AddSingleton(sp => new Domain.Backups.OnlineBackup(
            sp.GetRequiredService<MetadataStore>(),
            new GrpcStoreSnapshotGateway(sp.GetRequiredService<ChunkTokenService>(), options.NodeTrust),
            options,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("Dropbox.MetadataNode.Backup")));
        services.AddHostedService<GarbageCollectorService>();
        services.AddHostedService<AccountPurgeService>();
        services.AddSingleton(sp => new GrpcReplicationGateway(sp.GetRequiredService<ChunkTokenService>(), options.NodeTrust));
        services.AddSingleton(sp => new Domain.Replication.ReReplicator(
            sp.GetRequiredService<MetadataStore>(),
            sp.GetRequiredService<GrpcReplicationGateway>(),
            options,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("Dropbox.MetadataNode.Replication")));
        services.AddHostedService<ReReplicationService>();
        services.AddGrpc(grpc =>
        {
            grpc.Interceptors.Add<GrpcMetricsInterceptor>();
            grpc.Interceptors.Add<ErrorMappingInterceptor>();
            grpc.MaxReceiveMessageSize = MaxMessageBytes;
            grpc.MaxSendMessageSize = Limits.MaxAnswerBytes; // a one-file upload plan may exceed the 64 MiB request limit (MaxPutsPerPlan)
        });
        services.AddSafeRequestParsing();

        var app = builder.Build();

        // Open the store at build time, so a locked or unreadable data directory fails fast.
        var store = app.Services.GetRequiredService<MetadataStore>();
        app.Lifetime.ApplicationStopping.Register(store.ReleaseWaiters);
        app.Services.GetRequiredService<MetadataMetrics>();
        app.UseNodeObservability();
        app.MapGrpcService<SyncService>();
        app.MapGrpcService<ClusterService>();
        app.MapGrpcService<AdminService>();
        app.MapGet(NodeObservability.HealthPath, () => "ok");
        return app;
    }

    /// <summary>The addresses the started application actually listens on (port 0 resolved).</summary>
    public static IReadOnlyList<string> BoundUrls(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.Services.GetRequiredService<MetadataNodeEndpoints>().Grpc
            .Where(e => e.Listen.IPEndPoint is not null)
            .Select(e => ListenEndpoint.ToUrl(e.Scheme, e.Listen.IPEndPoint!))
            .ToList();
    }

    /// <summary>The started node's operator-only listener (<c>/metrics</c>), or null before start.</summary>
    public static string? MetricsUrl(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.Services.GetRequiredService<OperatorListener>().Url;
    }

    /// <summary>
    /// Where the started node answers HTTP/1.1 probes (<c>/healthz</c>, <c>/readyz</c>): the
    /// <see cref="MetadataNodeOptions.HttpUrl"/> listener, else the first https gRPC URL (ALPN), else null.
    /// </summary>
    public static string? HttpUrl(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var endpoints = app.Services.GetRequiredService<MetadataNodeEndpoints>();
        if (endpoints.Http is { Listen.IPEndPoint: { } bound } http)
        {
            return ListenEndpoint.ToUrl(http.Scheme, bound);
        }

        return BoundUrls(app).FirstOrDefault(u => u.StartsWith("https://", StringComparison.Ordinal));
    }
}
