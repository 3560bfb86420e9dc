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

    public async Task InitializeAsync() => (_metadata, _storage, Url) = await StartPairAsync(_dir);

    /// <summary>
    /// Starts a metadata node and a storage node over <paramref name="dir"/>'s <c>metadata</c>, <c>storage</c> and
    /// <c>keys</c> folders (again on the same folders after <see cref="StopAsync"/>: a restart).
    /// </summary>
    internal static async Task<(WebApplication Metadata, WebApplication Storage, string Url)> StartPairAsync(TempFolder dir)
    {
        var keys = dir.Sub("keys");
        var quiet = new NodeLogging { MinimumLevel = LogLevel.Warning };
        var metadata = MetadataNodeHost.Build(
            new MetadataNodeOptions { DataDirectory = dir.Sub("metadata"), KeysDirectory = keys, Urls = ["http://127.0.0.1:0"], GcInterval = TimeSpan.Zero },
            quiet.Apply);
        await metadata.StartAsync();
        var url = MetadataNodeHost.BoundUrls(metadata)[0];
        try
        {
            return (metadata, await StartStorageAsync(dir.Sub("storage"), keys, url, quiet), url);
        }
        catch
        {
            await StopAsync(metadata); // its database lock would outlive the test
            throw;
        }
    }

    private static async Task<WebApplication> StartStorageAsync(string data, string keys, string url, NodeLogging quiet)
    {
        var storage = StorageNodeHost.Build(
            new StorageNodeOptions
            {
                DataDirectory = data,
                KeysDirectory = keys,
                GrpcUrl = "http://127.0.0.1:0",
                HttpUrl = "http://127.0.0.1:0",
                MetadataUrl = url,
                NodeId = "storage-1",
            },
            quiet.Apply);
        await storage.StartAsync();
        return storage;
    }

    public async Task DisposeAsync()
    {
        // Storage first, so its last events reach a metadata node that is still up.
        await StopAsync(_storage);
        await StopAsync(_metadata);
        _dir.Dispose();
    }

    /// <summary>Stops and disposes <paramref name="app"/> (nothing if null), with a 20 s grace.</summary>
    internal static async Task StopAsync(WebApplication? app)
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
