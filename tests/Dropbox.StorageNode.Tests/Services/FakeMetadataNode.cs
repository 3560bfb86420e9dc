using System.Collections.Concurrent;
using System.Net;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tokens;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dropbox.StorageNode.Tests.Services;

/// <summary>
/// A stand-in for the metadata node's Cluster service (a different component): records registrations and
/// "chunk stored" events, and checks the storage node's system token like the real one would.
/// </summary>
public sealed class FakeMetadataNode : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ChunkTokenService _tokens;

    private FakeMetadataNode(WebApplication app, ChunkTokenService tokens)
    {
        _app = app;
        _tokens = tokens;
    }

    public ConcurrentDictionary<ChunkId, StoredChunk> Stored { get; } = new();

    public ConcurrentQueue<RegisterNodeRequest> Registrations { get; } = new();

    public int ReportCalls;

    /// <summary>Answers as the real one does for a node 'nodes forget' removed: registration refused for good, heartbeats and reports NotFound.</summary>
    public bool Forgotten { get; set; }

    /// <summary>Refuses registrations with a FAILED_PRECONDITION that is not the "forgotten" one.</summary>
    public bool RefuseRegistration { get; set; }

    public int HeartbeatCalls;

    /// <summary>Every stored and corrupt report, in the order they arrived ("stored ID", "corrupt ID").</summary>
    public ConcurrentQueue<string> Reports { get; } = new();

    public static async Task<FakeMetadataNode> StartAsync(int port, string keysDirectory)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        var holder = new FakeHolder();
        builder.Services.AddSingleton(holder);
        var app = builder.Build();
        var fake = new FakeMetadataNode(app, ChunkTokenService.ForKeyDirectory(keysDirectory));
        holder.Instance = fake;
        app.MapGrpcService<FakeClusterService>();
        await app.StartAsync();
        return fake;
    }

    internal void CheckAuth(ServerCallContext context, TokenOperation operation = TokenOperation.System)
    {
        var header = context.RequestHeaders.GetValue("authorization") ?? string.Empty;
        var token = header.StartsWith("Bearer ", StringComparison.Ordinal) ? header[7..] : null;
        try
        {
            _tokens.Validate(token, operation, "metadata");
        }
        catch (Dropbox.Shared.Errors.DropboxException ex)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, ex.Message));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    internal sealed class FakeHolder
    {
        public FakeMetadataNode Instance { get; set; } = null!;
    }

    internal sealed class FakeClusterService : Dropbox.Shared.Protos.Metadata.Cluster.ClusterBase
    {
        private readonly FakeMetadataNode _fake;

        public FakeClusterService(FakeHolder holder) => _fake = holder.Instance;

        public override Task<RegisterNodeResponse> RegisterNode(RegisterNodeRequest request, ServerCallContext context)
        {
            _fake.CheckAuth(context);
            _fake.Registrations.Enqueue(request);
            if (_fake.Forgotten)
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition, $"Storage node '{request.NodeId}' was forgotten ('nodes forget'): wipe its data directory and start it with a new --node-id."), new Metadata { { ClusterErrorDetails.NodeForgotten, "1" } });
            }

            if (_fake.RefuseRegistration)
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition, "Not now (a refusal that is not the forgotten one)."));
            }

            return Task.FromResult(new RegisterNodeResponse { HeartbeatSeconds = 1 });
        }

        public override Task<HeartbeatResponse> Heartbeat(HeartbeatRequest request, ServerCallContext context)
        {
            _fake.CheckAuth(context);
            Interlocked.Increment(ref _fake.HeartbeatCalls);
            if (_fake.Forgotten)
            {
                throw new RpcException(new Status(StatusCode.NotFound, $"Node '{request.NodeId}' was forgotten ('nodes forget')."));
            }

            return Task.FromResult(new HeartbeatResponse());
        }

        public override Task<ReportChunksStoredResponse> ReportChunksStored(ReportChunksStoredRequest request, ServerCallContext context)
        {
            _fake.CheckAuth(context);
            Interlocked.Increment(ref _fake.ReportCalls);
            if (_fake.Forgotten)
            {
                throw new RpcException(new Status(StatusCode.NotFound, $"Node '{request.NodeId}' was forgotten ('nodes forget')."));
            }
            foreach (var chunk in request.Chunks)
            {
                _fake.Stored[chunk.ChunkId.ToChunkId()] = chunk;
                _fake.Reports.Enqueue("stored " + chunk.ChunkId.ToChunkId());
            }

            return Task.FromResult(new ReportChunksStoredResponse());
        }

        public override Task<ReportChunksCorruptResponse> ReportChunksCorrupt(ReportChunksCorruptRequest request, ServerCallContext context)
        {
            _fake.CheckAuth(context, TokenOperation.NodeReport);
            foreach (var id in request.ChunkIds)
            {
                _fake.Reports.Enqueue("corrupt " + id.ToChunkId());
            }

            return Task.FromResult(new ReportChunksCorruptResponse { Lost = (uint)request.ChunkIds.Count });
        }
    }
}
