using Dropbox.Hosting;
using Dropbox.MetadataNode.Cluster;
using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Domain.Backups;
using Dropbox.Shared.Tls;
using Dropbox.Shared.Tokens;
using Dropbox.StorageNode;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Tests.Backups;

/// <summary>
/// A metadata node (RocksDB) and real storage nodes in this process on 127.0.0.1 ephemeral ports, for backups: each
/// storage node writes its parts under its own DATA/backups. A test builds its own <see cref="OnlineBackup"/> over
/// <see cref="Gateway"/> (the real gRPC one), possibly wrapped to inject a failure.
/// </summary>
internal sealed class BackupCluster : IAsyncDisposable
{
    private readonly TempFolder _dir = new();
    private readonly List<WebApplication> _storage = [];
    private WebApplication _metadata = null!;

    public MetadataNodeOptions Options { get; private set; } = null!;

    public MetadataStore Store => _metadata.Services.GetRequiredService<MetadataStore>();

    /// <summary>The real gateway, as the host wires it.</summary>
    public IStoreSnapshotGateway Gateway { get; private set; } = null!;

    /// <summary>Each storage node's backup folder, by node id.</summary>
    public Dictionary<string, string> NodeBackupFolders { get; } = new(StringComparer.Ordinal);

    public static async Task<BackupCluster> StartAsync(int nodes, Func<MetadataNodeOptions, MetadataNodeOptions>? configure = null)
    {
        var cluster = new BackupCluster();
        await cluster.InitializeAsync(nodes, configure ?? (o => o));
        return cluster;
    }

    public OnlineBackup Backup(IStoreSnapshotGateway? gateway = null) =>
        new(Store, gateway ?? Gateway, Options, _metadata.Services.GetRequiredService<ILoggerFactory>().CreateLogger("test.backup"));

    private async Task InitializeAsync(int nodes, Func<MetadataNodeOptions, MetadataNodeOptions> configure)
    {
        var keys = _dir.Sub("keys");
        var quiet = new NodeLogging { MinimumLevel = LogLevel.Warning };
        Options = configure(new MetadataNodeOptions { DataDirectory = _dir.Sub("metadata"), KeysDirectory = keys, Urls = ["http://127.0.0.1:0"], GcInterval = TimeSpan.Zero });
        _metadata = MetadataNodeHost.Build(Options, quiet.Apply);
        await _metadata.StartAsync();
        var url = MetadataNodeHost.BoundUrls(_metadata)[0];
        Gateway = new GrpcStoreSnapshotGateway(_metadata.Services.GetRequiredService<ChunkTokenService>(), ServerTrust.System);
        for (var i = 1; i <= nodes; i++)
        {
            var options = new StorageNodeOptions
            {
                DataDirectory = _dir.Sub($"storage-{i}"),
                KeysDirectory = keys,
                GrpcUrl = "http://127.0.0.1:0",
                HttpUrl = "http://127.0.0.1:0",
                MetadataUrl = url,
                NodeId = $"storage-{i}",
            };
            var app = StorageNodeHost.Build(options, quiet.Apply);
            await app.StartAsync();
            _storage.Add(app);
            NodeBackupFolders[options.NodeId] = options.BackupFolder;
        }

        // Bounded wait for every node to register and be live.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (Store.Nodes.All().Count(n => Store.Nodes.IsLive(n) && n.GrpcUrl.Length > 0) < nodes)
        {
            await Task.Delay(50, timeout.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var app in _storage)
        {
            await StopAsync(app);
        }

        await StopAsync(_metadata);
        _dir.Dispose();
    }

    private static async Task StopAsync(WebApplication app)
    {
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await app.StopAsync(grace.Token);
        await app.DisposeAsync();
    }
}
