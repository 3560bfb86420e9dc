using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.StorageNode;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Tests.Service;

/// <summary>
/// Requests whose bytes do not parse, sent raw (a pass-through marshaller writes them as given): both node kinds
/// answer INVALID_ARGUMENT, before authentication, and log no error.
/// </summary>
public sealed class MalformedRequestTests
{
    private static readonly Marshaller<byte[]> Raw = Marshallers.Create(b => b, b => b);

    /// <summary>Field 1 (the path, a string) holding 0xC3 0x28: not UTF-8.</summary>
    private static readonly byte[] InvalidUtf8InField1 = [0x0A, 0x02, 0xC3, 0x28];

    /// <summary>Field 1 says 5 bytes follow, one does.</summary>
    private static readonly byte[] Truncated = [0x0A, 0x05, 0x61];

    /// <summary>Field 1 with wire type 7, which does not exist.</summary>
    private static readonly byte[] BadWireType = [0x0F, 0x00];

    public static TheoryData<string, byte[]> MetadataCases() => new()
    {
        { "PlanUpload", InvalidUtf8InField1 },
        { "CommitFile", InvalidUtf8InField1 },
        { "GetDownloadPlan", InvalidUtf8InField1 },
        { "ListChanges", InvalidUtf8InField1 },
        { "ListFiles", Truncated },
        { "MoveFile", BadWireType },
        { "CommitFiles", [0x0A, 0x04, 0x0A, 0x02, 0xC3, 0x28] }, // files[0].path
    };

    [Theory]
    [MemberData(nameof(MetadataCases))]
    public async Task MetadataNode_RequestThatDoesNotParse_IsInvalidArgument_WithoutAnErrorLogged(string method, byte[] payload)
    {
        await using var server = await MetadataServer.StartAsync();
        var (_, token) = server.Store.AddUser("alice");

        foreach (var auth in new[] { null, token })
        {
            var headers = auth is null ? new Metadata() : new Metadata { { "authorization", "Bearer " + auth } };
            var call = server.Channel.CreateCallInvoker().AsyncUnaryCall(new Method<byte[], byte[]>(MethodType.Unary, "dropbox.metadata.v1.Sync", method, Raw, Raw), null, new CallOptions(headers), payload);

            var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);

            Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
            Assert.Contains("not a valid", ex.Status.Detail);
        }

        // The node still serves well-formed calls.
        var client = server.SyncClient(token);
        Assert.Equal("alice", (await client.GetAccountAsync(new Dropbox.Shared.Protos.Metadata.GetAccountRequest())).User);
        server.AssertNoErrorsLogged();
    }

    [Fact]
    public async Task StorageNode_RequestThatDoesNotParse_IsInvalidArgument_WithoutAnErrorLogged()
    {
        using var dir = new TempFolder();
        var logs = new CapturingLoggerProvider();
        var options = new StorageNodeOptions
        {
            DataDirectory = dir.Sub("data"),
            KeysDirectory = dir.Sub("keys"),
            GrpcUrl = "http://127.0.0.1:0",
            NodeId = "node-a",
            IndexSizeBytes = 1L << 16,
            IndexMemoryBytes = 1L << 22,
            CheckpointInterval = TimeSpan.Zero,
            CompactionInterval = TimeSpan.Zero,
        };
        await using var app = StorageNodeHost.Build(options, logging =>
        {
            logging.ClearProviders();
            logging.AddProvider(logs);
        });
        await app.StartAsync();
        var (grpcUrl, _) = await app.Services.GetRequiredService<NodeAddresses>().WhenBound.WaitAsync(TimeSpan.FromSeconds(30));
        using var channel = GrpcChannel.ForAddress(grpcUrl);
        var invoker = channel.CreateCallInvoker();

        // HasChunks: field 2 (the token) is not UTF-8.
        var has = invoker.AsyncUnaryCall(new Method<byte[], byte[]>(MethodType.Unary, "dropbox.storage.v1.ChunkStorage", "HasChunks", Raw, Raw), null, default, [0x12, 0x02, 0xC3, 0x28]);
        Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(() => has.ResponseAsync)).StatusCode);

        // GetChunks (server streaming): the token again.
        var get = invoker.AsyncServerStreamingCall(new Method<byte[], byte[]>(MethodType.ServerStreaming, "dropbox.storage.v1.ChunkStorage", "GetChunks", Raw, Raw), null, default, [0x12, 0x02, 0xC3, 0x28]);
        Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(() => get.ResponseStream.MoveNext(CancellationToken.None))).StatusCode);

        // PutChunks (client streaming): a header frame whose token is not UTF-8.
        var put = invoker.AsyncClientStreamingCall(new Method<byte[], byte[]>(MethodType.ClientStreaming, "dropbox.storage.v1.ChunkStorage", "PutChunks", Raw, Raw), null, default);
        try
        {
            await put.RequestStream.WriteAsync([0x0A, 0x04, 0x2A, 0x02, 0xC3, 0x28]);
            await put.RequestStream.CompleteAsync();
        }
        catch (RpcException)
        {
            // The node may answer before the stream is complete.
        }

        Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(() => put.ResponseAsync)).StatusCode);
        await app.StopAsync();
        Assert.True(logs.Errors.IsEmpty, string.Join("\n", logs.Errors));
    }
}
