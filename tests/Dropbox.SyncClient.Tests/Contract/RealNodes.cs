using Dropbox.Hosting;
using Dropbox.MetadataNode;
using Dropbox.MetadataNode.Domain;
using Dropbox.StorageNode;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dropbox.SyncClient.Tests.Contract;

/// <summary>
/// A metadata node (RocksDB) and a storage node (segments + FASTER) in this process on 127.0.0.1 ephemeral ports,
/// started once for the contract suite; each test signs in as a user of its own, so it sees an empty namespace.
/// </summary>
public sealed class RealNodes : IAsyncLifetime
{
    private readonly TempFolder _dir = new();
    private WebApplication? _metadata;
    private WebApplication? _storage;
    private int _users;

    /// <summary>The metadata node's gRPC URL.</summary>
    public string Url { get; private set; } = string.Empty;

    /// <summary>Creates a user of its own for a test; returns its token.</summary>
    public string NewUserToken() =>
        _metadata!.Services.GetRequiredService<MetadataStore>().AddUser($"user{Interlocked.Increment(ref _users)}").Token;

    public async Task InitializeAsync()
    {
        var keys = _dir.Sub("keys");
        var quiet = new NodeLogging { MinimumLevel = LogLevel.Warning };
        _metadata = MetadataNodeHost.Build(
            new MetadataNodeOptions { DataDirectory = _dir.Sub("metadata"), KeysDirectory = keys, Urls = ["http://127.0.0.1:0"], GcInterval = TimeSpan.Zero },
            quiet.Apply);
        await _metadata.StartAsync();
        Url = MetadataNodeHost.BoundUrls(_metadata)[0];
        _storage = StorageNodeHost.Build(
            new StorageNodeOptions
            {
                DataDirectory = _dir.Sub("storage"),
                KeysDirectory = keys,
                GrpcUrl = "http://127.0.0.1:0",
                HttpUrl = "http://127.0.0.1:0",
                MetadataUrl = Url,
                NodeId = "storage-1",
            },
            quiet.Apply);
        await _storage.StartAsync();
    }

    public async Task DisposeAsync()
    {
        // Storage first, so its last events reach a metadata node that is still up.
        await StopAsync(_storage);
        await StopAsync(_metadata);
        _dir.Dispose();
    }

    private static async Task StopAsync(WebApplication? app)
    {
        if (app is null)
        {
            return;
        }

        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await app.StopAsync(grace.Token);
        await app.DisposeAsync();
    }
}
