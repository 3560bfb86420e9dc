using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using Dropbox.Hosting;
using Dropbox.Shared.Channels;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.IO;
using Dropbox.Shared.Tls;
using Dropbox.Shared.Tokens;
using Dropbox.StorageNode.Cluster;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Hosting;
using Dropbox.StorageNode.Services;
using Dropbox.StorageNode.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Dropbox.StorageNode;

/// <summary>
/// Wires a storage node: engine ← store ← gRPC and HTTP adapters, on two Kestrel endpoints (HTTP/2 for gRPC,
/// HTTP/1.1 for presigned links, since Kestrel cannot offer both without TLS on one port), each TLS when its URL
/// is https. Used by Program.cs, by the metadata node's standalone mode and by tests.
/// </summary>
public static class StorageNodeHost
{
    /// <summary>Builds (but does not start) a storage node. After start, <see cref="NodeAddresses"/> has its URLs.</summary>
    public static WebApplication Build(StorageNodeOptions options, Action<ILoggingBuilder>? configureLogging = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var grpcUri = ParseUrl(options.GrpcUrl);
        var httpUri = options.HttpUrl is { } configuredHttp
            ? ParseUrl(configuredHttp)
            : new UriBuilder(grpcUri) { Port = grpcUri.Port == 0 ? 0 : grpcUri.Port + 1 }.Uri;
        var metricsUri = ParseUrl(options.MetricsUrl);
        ListenGuard.Check([grpcUri.OriginalString, httpUri.OriginalString, metricsUri.OriginalString], options.TlsCertificate is not null, options.InsecureHttp);
        // Owner-only, and anything an older version left readable is tightened (segments, index, outbox, node id).
        PrivateFolder.CreateAndTightenTree(options.DataDirectory);
        var nodeId = ResolveNodeId(options);

        // The content root is the program's folder, as the metadata node's: by default it is the working directory, whose
        // whole tree the host then watches for appsettings changes; started from a data folder's parent, the node
        // handled an inotify event for each of its own writes (7% of the appliance's CPU in a sync of 10,000 files).
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(StorageNodeHost).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        // Per-request info logs cost more than a chunk put's bookkeeping; keep the framework to warnings.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        configureLogging?.Invoke(builder.Logging);

        var grpcEndpoint = ToEndpoint(grpcUri);
        var httpEndpoint = ToEndpoint(httpUri);
        var grpcTls = grpcUri.Scheme == Uri.UriSchemeHttps;
        var httpTls = httpUri.Scheme == Uri.UriSchemeHttps;
        ListenOptions? grpcListen = null;
        ListenOptions? httpListen = null;
        var operators = new OperatorListener();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = StoreLimits.AbsoluteMaxChunkBytes * 2L;

            // Bulk uploads: wide flow-control windows and big frames cut WINDOW_UPDATE round trips and per-frame
            // work, which otherwise dominate the CPU cost of a put.
            kestrel.Limits.Http2.InitialConnectionWindowSize = 32 * 1024 * 1024;
            kestrel.Limits.Http2.InitialStreamWindowSize = 16 * 1024 * 1024;
            kestrel.Limits.Http2.MaxFrameSize = 1024 * 1024;
            kestrel.Listen(grpcEndpoint, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                if (grpcTls)
                {
                    listen.UseHttps(options.TlsCertificate!);
                }

                grpcListen = listen;
            });
            kestrel.Listen(httpEndpoint, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                if (httpTls)
                {
                    listen.UseHttps(options.TlsCertificate!);
                }

                httpListen = listen;
            });
            kestrel.Listen(ToEndpoint(metricsUri), listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                if (metricsUri.Scheme == Uri.UriSchemeHttps)
                {
                    listen.UseHttps(options.TlsCertificate!);
                }

                operators.Attach(metricsUri.Scheme, listen);
            });
        });

        var services = builder.Services;
        services.AddSingleton<Microsoft.AspNetCore.Connections.IMemoryPoolFactory<byte>, LargeBlockMemoryPool.Factory>();
        services.AddSingleton(options);
        services.AddSingleton(new NodeAddresses());
        services.AddSingleton(operators);
        services.AddSingleton(_ => ChunkTokenService.ForKeyDirectory(options.KeysDirectory));
        services.AddSingleton<IChunkEngine>(sp => ChunkEngine.Open(
            new EngineOptions
            {
                Directory = options.DataDirectory,
                SegmentMaxBytes = options.SegmentMaxBytes,
                CheckpointInterval = options.CheckpointInterval,
                IndexSizeBytes = options.IndexSizeBytes,
                IndexMemoryBytes = options.IndexMemoryBytes,
                DirectReads = options.DirectIo,
                DirectWrites = options.DirectIo,
            },
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<ChunkEngine>()));
        services.AddSingleton(sp => new EventOutbox(Path.Combine(options.DataDirectory, "outbox"), sp.GetRequiredService<ILoggerFactory>().CreateLogger<EventOutbox>()));
        services.AddNodeObservability().AddCheck<StorageReadinessCheck>("storage");
        services.AddSingleton(sp => new StoreMetrics(sp.GetRequiredService<NodeMetrics>().Factory));
        services.AddSingleton(sp => new ChunkStore(sp.GetRequiredService<IChunkEngine>(), sp.GetRequiredService<EventOutbox>(), nodeId, options.MaxChunkBytes, sp.GetRequiredService<StoreMetrics>(), new SpaceGuard(options.DataDirectory, options.ReserveBytes)));
        services.AddSingleton(new BackupParts(options.BackupFolder, options.DataDirectory));
        services.AddSingleton<ClusterAgent>();
        services.AddSingleton<LinkedFileReader>();
        // Peers are trusted as the metadata node is: in a deployment one CA signs every node's certificate.
        services.AddSingleton(_ => new GrpcChannelCache(options.MetadataTrust, StoreLimits.MaxGrpcMessageBytes));
        services.AddHostedService(sp => sp.GetRequiredService<ClusterAgent>());
        services.AddHostedService<MaintenanceService>();
        services.AddSingleton<ScrubService>();
        services.AddHostedService(sp => sp.GetRequiredService<ScrubService>());
        services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = StoreLimits.MaxGrpcMessageBytes;
            grpc.MaxSendMessageSize = StoreLimits.MaxGrpcMessageBytes;
            grpc.Interceptors.Add<GrpcMetricsInterceptor>();
            grpc.Interceptors.Add<ErrorMappingInterceptor>();
        });
        services.AddSafeRequestParsing();

        var app = builder.Build();

        // Open the engine now: recovery happens before the node accepts a single request.
        var store = app.Services.GetRequiredService<ChunkStore>();

        // Before the node serves a request no snapshot of it runs (they run in its own process): a .partial naming it is left
        // by a snapshot it was killed in the middle of.
        var staleParts = app.Services.GetRequiredService<BackupParts>().RemoveStalePartials(nodeId);
        if (staleParts.Count > 0)
        {
            BackupPartsLog.StalePartialsRemoved(app.Logger, staleParts.Count, string.Join(", ", staleParts));
        }

        StorageGauges.Register(app.Services.GetRequiredService<NodeMetrics>(), store, options.DataDirectory);
        var addresses = app.Services.GetRequiredService<NodeAddresses>();
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            try
            {
                addresses.SetBound(ToUrl(grpcUri.Scheme, grpcListen!.IPEndPoint!), ToUrl(httpUri.Scheme, httpListen!.IPEndPoint!));
            }
            catch (Exception ex)
            {
                addresses.SetFailed(ex);
            }
        });

        app.UseNodeObservability();
        app.MapGrpcService<ChunkStorageService>();
        app.MapGrpcService<ChunkPushService>();
        app.MapGrpcService<StoreSnapshotService>();
        app.MapChunkHttp();
        app.MapFileLinks();
        return app;
    }

    private static string ToUrl(string scheme, IPEndPoint endpoint) => ListenEndpoint.ToUrl(scheme, endpoint);

    private static Uri ParseUrl(string url) => ListenEndpoint.Parse(url);

    private static IPEndPoint ToEndpoint(Uri uri) => ListenEndpoint.ToEndpoint(uri);

    private static NodeId ResolveNodeId(StorageNodeOptions options)
    {
        if (!string.IsNullOrEmpty(options.NodeId))
        {
            return new NodeId(options.NodeId);
        }

        var path = Path.Combine(options.DataDirectory, "node-id");
        if (File.Exists(path))
        {
            return new NodeId(File.ReadAllText(path).Trim());
        }

        var id = new NodeId("storage-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)));
        AtomicFile.WriteAllText(path, id.Value + "\n");
        return id;
    }
}
