using Dropbox.MetadataNode;
using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tokens;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dropbox.Benchmarks.Metadata;

/// <summary>
/// A real metadata node on 127.0.0.1:0 in a temp folder for the metadata runners, with a storage node registered
/// under <see cref="NodeId"/> at a <see cref="StandInStorageNode"/>'s address (the runners report chunks as stored
/// themselves; the stand-in answers the commits' checks). Disposing stops it and removes the folder.
/// </summary>
internal sealed class BenchMetadataNode : IAsyncDisposable
{
    /// <summary>Id of the registered stand-in storage node.</summary>
    public const string NodeId = "bench-node";

    private readonly string _root;
    private readonly WebApplication _app;

    private BenchMetadataNode(string root, WebApplication app, string url, MetadataStore store, string systemToken)
    {
        _root = root;
        _app = app;
        Url = url;
        Store = store;
        SystemToken = systemToken;
    }

    /// <summary>The node's RocksDB folder.</summary>
    public string DataDirectory => Path.Combine(_root, "db");

    /// <summary>The node's gRPC address.</summary>
    public string Url { get; }

    /// <summary>The node's store, for what the runners set up or measure directly.</summary>
    public MetadataStore Store { get; }

    /// <summary>A system token, as a storage node would hold, for the cluster service.</summary>
    public string SystemToken { get; }

    /// <summary>Starts a node in a new temp folder named after <paramref name="prefix"/>.</summary>
    public static async Task<BenchMetadataNode> StartAsync(string prefix, LogLevel minimumLevel, bool syncWrites = true, bool tableFilters = true)
    {
        var root = Path.Combine(Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N")[..8]);
        var options = new MetadataNodeOptions
        {
            DataDirectory = Path.Combine(root, "db"),
            KeysDirectory = Path.Combine(root, "keys"),
            Urls = ["http://127.0.0.1:0"],
            GcInterval = TimeSpan.Zero,
            SyncWrites = syncWrites,
            TableFilters = tableFilters,
        };
        var app = MetadataNodeHost.Build(options, l => l.SetMinimumLevel(minimumLevel));
        await app.StartAsync();
        var tokens = ChunkTokenService.ForKeyDirectory(options.KeysDirectory);
        var system = tokens.Issue(TokenOperation.System, NamespaceId.SystemValue, CallAuthenticator.MetadataNodeId, [], TimeSpan.FromHours(1));
        return new BenchMetadataNode(root, app, MetadataNodeHost.BoundUrls(app)[0], app.Services.GetRequiredService<MetadataStore>(), system);
    }

    /// <summary>
    /// A cluster client on <paramref name="channel"/> with the system token, after registering the stand-in node at
    /// <paramref name="nodeUrl"/> (a <see cref="StandInStorageNode"/>'s: against an address where nothing listens every
    /// check a commit makes fails and logs, and that, not the metadata node, is what a figure would measure).
    /// </summary>
    public async Task<Cluster.ClusterClient> RegisterNodeAsync(GrpcChannel channel, string nodeUrl)
    {
        var cluster = new Cluster.ClusterClient(channel.Intercept(m => { m.Add("authorization", "Bearer " + SystemToken); return m; }));
        await cluster.RegisterNodeAsync(new RegisterNodeRequest { NodeId = NodeId, GrpcUrl = nodeUrl, HttpUrl = nodeUrl });
        return cluster;
    }

    /// <summary>
    /// Heartbeats for the stand-in node every 5 s until <paramref name="cancellationToken"/> is cancelled, as a real
    /// node does: without them the metadata node counts it dead after its node timeout (35 s) and plans fail. A failed
    /// heartbeat (a transient error, or a deadline on a loaded machine) is written to standard error and the next one
    /// is sent on time, so a run that later fails for want of a live node shows why.
    /// </summary>
    public static async Task KeepAliveAsync(Cluster.ClusterClient cluster, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(5));
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await cluster.HeartbeatAsync(new HeartbeatRequest { NodeId = NodeId }, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: cancellationToken).ConfigureAwait(false);
                }
                catch (Grpc.Core.RpcException ex) when (!cancellationToken.IsCancellationRequested)
                {
                    await Console.Error.WriteLineAsync($"stand-in node heartbeat failed ({ex.StatusCode}: {ex.Status.Detail}); the next one goes in 5 s").ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Grpc.Core.RpcException ex) when (ex.StatusCode == Grpc.Core.StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Stops the node (a clean stop, as a measured run ends).</summary>
    public Task StopAsync() => _app.StopAsync();

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
