using System.Diagnostics;
using Dropbox.Hosting;
using Dropbox.MetadataNode;
using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.StorageNode;
using Dropbox.StorageNode.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dropbox.IntegrationTests.Storage;

/// <summary>
/// A metadata node (RocksDB) with replication two and two storage nodes (segments + FASTER) in this process, each on
/// Kestrel at 127.0.0.1:0 over one key ring; clients are the real client as a process. Scrub runs only when a test
/// asks (the storage node's own <see cref="ChunkStore.ScrubAsync"/>), re-replication in the background as deployed.
/// </summary>
internal sealed class ScrubCluster : IAsyncDisposable
{
    public static readonly TimeSpan Bounded = TimeSpan.FromSeconds(60);

    private readonly TempFolder _dir;
    private readonly WebApplication _metadata;
    private readonly List<WebApplication> _storage;

    private ScrubCluster(TempFolder dir, WebApplication metadata, List<WebApplication> storage, string url, string token)
    {
        _dir = dir;
        _metadata = metadata;
        _storage = storage;
        Url = url;
        Token = token;
    }

    public string Url { get; }

    public string Token { get; }

    public MetadataStore Store => _metadata.Services.GetRequiredService<MetadataStore>();

    /// <summary>Storage node <paramref name="index"/>'s (0-based) chunk store.</summary>
    public ChunkStore ChunkStore(int index) => _storage[index].Services.GetRequiredService<ChunkStore>();

    /// <summary>Storage node <paramref name="index"/>'s (0-based) data folder.</summary>
    public string StorageData(int index) => Path.Combine(_dir.Path, $"storage-{index + 1}");

    public static async Task<ScrubCluster> StartAsync(TempFolder dir, int storageNodes = 2)
    {
        var keys = dir.Sub("keys");
        var quiet = new NodeLogging { MinimumLevel = LogLevel.Warning };
        var options = new MetadataNodeOptions
        {
            DataDirectory = dir.Sub("metadata"),
            KeysDirectory = keys,
            Urls = ["http://127.0.0.1:0"],
            GcInterval = TimeSpan.Zero,
            ReplicationFactor = 2,
            SyncWrites = false,
            ReplicationInterval = TimeSpan.FromMilliseconds(200),
        }.WithNodeDeadAfter(TimeSpan.FromSeconds(MetadataNodeOptions.MinNodeDeadAfterSeconds));
        var metadata = MetadataNodeHost.Build(options, quiet.Apply);
        var storage = new List<WebApplication>();
        try
        {
            await metadata.StartAsync();
            var url = MetadataNodeHost.BoundUrls(metadata)[0].TrimEnd('/');
            for (var i = 1; i <= storageNodes; i++)
            {
                var node = StorageNodeHost.Build(
                    new StorageNodeOptions
                    {
                        DataDirectory = dir.Sub($"storage-{i}"),
                        KeysDirectory = keys,
                        GrpcUrl = "http://127.0.0.1:0",
                        HttpUrl = "http://127.0.0.1:0",
                        MetadataUrl = url,
                        NodeId = $"storage-{i}",
                        IndexSizeBytes = 1L << 20,
                        IndexMemoryBytes = 1L << 24,
                        ScrubInterval = TimeSpan.Zero,
                        CompactionInterval = TimeSpan.Zero,
                        MaxRetryDelay = TimeSpan.FromMilliseconds(200),
                    },
                    quiet.Apply);
                storage.Add(node);
                await node.StartAsync();
            }

            var store = metadata.Services.GetRequiredService<MetadataStore>();
            var token = store.AddUser("alice").Token;
            var cluster = new ScrubCluster(dir, metadata, storage, url, token);
            await WaitUntilAsync(() => store.LiveNodes().Count == storageNodes, () => "the storage nodes never registered");
            return cluster;
        }
        catch
        {
            foreach (var node in storage)
            {
                await node.DisposeAsync();
            }

            await metadata.DisposeAsync();
            throw;
        }
    }

    /// <summary>Logs a client in as alice with a folder of its own; returns its state folder and folder.</summary>
    public async Task<(string State, string Folder)> LoginAsync(string name)
    {
        var folder = _dir.CreateSub(name + "-folder");
        var state = _dir.CreateSub(name + "-state");
        await ClientAsync(state, "login", "--server", Url, "--token", Token, "--folder", folder, "--device", name);
        return (state, folder);
    }

    /// <summary>Runs a client verb to its end; asserts it succeeded and returns its standard output.</summary>
    public static async Task<string> ClientAsync(string state, params string[] args)
    {
        var (code, stdout, stderr) = await TryClientAsync(state, args);
        Assert.True(code == 0, $"client {string.Join(' ', args)} exited {code}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        return stdout;
    }

    /// <summary>Runs a client verb to its end: its exit code and output.</summary>
    public static async Task<(int Code, string Stdout, string Stderr)> TryClientAsync(string state, params string[] args)
    {
        using var client = ChildProcess.Start(Binaries.SyncClient, [.. args, "--state", state]);
        var code = await client.WaitForExitAsync(Bounded);
        return (code, client.Stdout, client.Stderr);
    }

    /// <summary>The metadata node's record of a chunk (null: none).</summary>
    public ChunkRecord? Chunk(ChunkId id)
    {
        ChunkRecord? found = null;
        Store.VisitChunkRecords((key, record) =>
        {
            if (key == id)
            {
                found = record;
                return false;
            }

            return true;
        });
        return found;
    }

    /// <summary>
    /// Flips one byte inside <paramref name="content"/> where storage node <paramref name="index"/> keeps it on disk (a
    /// raw chunk in a segment file), as bit rot would; fails if the bytes are not found.
    /// </summary>
    public void CorruptOnDisk(int index, byte[] content)
    {
        var needle = content.AsSpan(0, 64).ToArray();
        foreach (var segment in Directory.GetFiles(Path.Combine(StorageData(index), "segments")))
        {
            var bytes = File.ReadAllBytes(segment);
            var at = bytes.AsSpan().IndexOf(needle);
            if (at >= 0)
            {
                using var file = new FileStream(segment, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
                file.Position = at + 10;
                file.WriteByte((byte)(bytes[at + 10] ^ 0x5a));
                file.Flush(flushToDisk: true);
                return;
            }
        }

        Assert.Fail($"the content's bytes are in no segment file of storage node {index + 1}");
    }

    /// <summary>Polls <paramref name="condition"/> every 50 ms until it holds; fails with <paramref name="explain"/> after <see cref="Bounded"/>.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, Func<string> explain)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < Bounded, "Timed out: " + explain());
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _storage)
        {
            await StopAsync(node);
        }

        await StopAsync(_metadata);
    }

    private static async Task StopAsync(WebApplication app)
    {
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await app.StopAsync(grace.Token);
        await app.DisposeAsync();
    }
}
