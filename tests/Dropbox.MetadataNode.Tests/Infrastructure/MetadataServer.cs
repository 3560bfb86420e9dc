using System.Security.Cryptography;
using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tokens;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.MetadataNode.Tests.Infrastructure;

/// <summary>A real metadata node on real Kestrel (127.0.0.1:0) with a fake storage node registered over gRPC.</summary>
internal sealed class MetadataServer : IAsyncDisposable
{
    private readonly TempFolder _dir;
    private readonly WebApplication _app;
    private readonly CapturingLoggerProvider _logs;
    private readonly GrpcChannel _channel;
    private readonly CancellationTokenSource _stopHeartbeats = new();
    private Task _heartbeats = Task.CompletedTask;

    private MetadataServer(TempFolder dir, WebApplication app, CapturingLoggerProvider logs, string url, FakeStorageNode node, ChunkTokenService tokens)
    {
        _dir = dir;
        _app = app;
        _logs = logs;
        Url = url;
        Node = node;
        Tokens = tokens;
        _channel = GrpcChannel.ForAddress(url);
    }

    public string Url { get; }

    public FakeStorageNode Node { get; }

    public ChunkTokenService Tokens { get; }

    public MetadataStore Store => _app.Services.GetRequiredService<MetadataStore>();

    public MetadataMetrics Metrics => _app.Services.GetRequiredService<MetadataMetrics>();

    public GrpcChannel Channel => _channel;

    public static async Task<MetadataServer> StartAsync(Func<MetadataNodeOptions, MetadataNodeOptions>? configure = null)
    {
        var dir = new TempFolder();
        var options = new MetadataNodeOptions
        {
            DataDirectory = dir.Sub("db"),
            KeysDirectory = dir.Sub("keys"),
            Urls = ["http://127.0.0.1:0"],
            GcInterval = TimeSpan.Zero,
            EventWait = TimeSpan.FromSeconds(2),
        };
        options = configure?.Invoke(options) ?? options;
        var logs = new CapturingLoggerProvider();
        var app = MetadataNodeHost.Build(options, logging =>
        {
            logging.ClearProviders();
            logging.AddProvider(logs);
        });
        await app.StartAsync();
        var url = MetadataNodeHost.BoundUrls(app)[0];
        var tokens = ChunkTokenService.ForKeyDirectory(options.KeysDirectory);
        var node = await FakeStorageNode.StartAsync("node-1", options.KeysDirectory);
        var server = new MetadataServer(dir, app, logs, url, node, tokens);
        await server.Cluster().RegisterNodeAsync(new RegisterNodeRequest { NodeId = node.NodeId, GrpcUrl = node.Url, HttpUrl = node.Url });
        server._heartbeats = server.HeartbeatAsync(options.NodeTimeout / 3);
        return server;
    }

    public (UserInfo User, Sync.SyncClient Client) AddUser(string name)
    {
        var (user, token) = Store.AddUser(name);
        return (user, SyncClient(token));
    }

    /// <summary>A client on its own channel (its own HTTP/2 connection), as another device would be.</summary>
    public (Sync.SyncClient Client, IDisposable Channel) SeparateClient(string token)
    {
        var channel = GrpcChannel.ForAddress(Url);
        var client = new Sync.SyncClient(channel.Intercept(m =>
        {
            m.Add("authorization", "Bearer " + token);
            return m;
        }));
        return (client, channel);
    }

    public Sync.SyncClient SyncClient(string? token) =>
        new(_channel.Intercept(m =>
        {
            if (token is not null)
            {
                m.Add("authorization", "Bearer " + token);
            }

            return m;
        }));

    public Dropbox.Shared.Protos.Metadata.Cluster.ClusterClient Cluster(string? token = null)
    {
        token ??= Tokens.Issue(TokenOperation.System, NamespaceId.SystemValue, CallAuthenticator.MetadataNodeId, [], TimeSpan.FromMinutes(5));
        return new(_channel.Intercept(m =>
        {
            m.Add("authorization", "Bearer " + token);
            return m;
        }));
    }

    public static Proto.ChunkRef Chunk(int seed, uint size = 1000)
    {
        var bytes = BitConverter.GetBytes(seed);
        return new Proto.ChunkRef { Id = Google.Protobuf.ByteString.CopyFrom(SHA256.HashData(bytes)), Size = size, StoredSize = size };
    }

    /// <summary>What a client and a storage node do between plan and commit: the node stores and reports.</summary>
    public async Task UploadAsync(PlanUploadResponse plan, IEnumerable<Proto.ChunkRef> chunks, string namespaceId)
    {
        var byId = chunks.ToDictionary(c => c.Id);
        var report = new ReportChunksStoredRequest { NodeId = Node.NodeId };
        foreach (var put in plan.Missing)
        {
            var token = Tokens.Validate(put.Token, TokenOperation.Put, Node.NodeId, put.ChunkId.ToChunkId());
            Node.Chunks[put.ChunkId.ToChunkId()] = true;
            var c = byId[put.ChunkId];
            report.Chunks.Add(new StoredChunk { ChunkId = put.ChunkId, Size = c.Size, StoredSize = c.StoredSize, NamespaceId = token.Namespace });
        }

        if (report.Chunks.Count > 0)
        {
            await Cluster().ReportChunksStoredAsync(report);
        }
    }

    public async Task<CommitFileResponse> PutFileAsync(Sync.SyncClient client, UserInfo user, string path, ulong baseVersion, params Proto.ChunkRef[] chunks)
    {
        var size = (ulong)chunks.Sum(c => (long)c.Size);
        var plan = await client.PlanUploadAsync(new PlanUploadRequest { Path = path, Size = size, BaseVersion = baseVersion, Chunks = { chunks } });
        await UploadAsync(plan, chunks, user.Namespace.Value);
        return await client.CommitFileAsync(new CommitFileRequest { Path = path, Size = size, BaseVersion = baseVersion, Chunks = { chunks }, Device = "test" });
    }

    /// <summary>
    /// The node's heartbeats, every third of the dead-after time as a storage node sends them: a test slower than that
    /// (a loaded machine) would otherwise find the node dead, and the commit of an upload, which counts copies on live
    /// nodes only, refused.
    /// </summary>
    private async Task HeartbeatAsync(TimeSpan every)
    {
        using var timer = new PeriodicTimer(every);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopHeartbeats.Token))
            {
                await Cluster().HeartbeatAsync(new HeartbeatRequest { NodeId = Node.NodeId }, cancellationToken: _stopHeartbeats.Token);
            }
        }
        catch (OperationCanceledException) when (_stopHeartbeats.IsCancellationRequested)
        {
        }
        catch (RpcException) when (_stopHeartbeats.IsCancellationRequested)
        {
        }
    }

    /// <summary>Fails the test if the server logged an unexpected error.</summary>
    public void AssertNoErrorsLogged() => Assert.True(_logs.Errors.IsEmpty, string.Join("\n", _logs.Errors));

    public async ValueTask DisposeAsync()
    {
        await _stopHeartbeats.CancelAsync();
        await _heartbeats;
        _stopHeartbeats.Dispose();
        _channel.Dispose();
        await Node.DisposeAsync();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _dir.Dispose();
    }
}
