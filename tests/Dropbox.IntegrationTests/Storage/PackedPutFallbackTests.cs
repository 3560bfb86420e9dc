using System.Collections.Concurrent;
using Dropbox.Shared.Channels;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Storage;
using Dropbox.Shared.Tls;
using Dropbox.SyncClient.Remote;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dropbox.IntegrationTests.Storage;

/// <summary>
/// What the client's gRPC chunk transfer puts on the wire, seen by a recording ChunkStorage server on 127.0.0.1:0
/// that can act as a node which takes packed messages or as an older one which does not: packed messages go only to
/// a node whose last answer said it takes them, and an INVALID_ARGUMENT from a node sends the next call back to the
/// header and data form.
/// </summary>
public sealed class PackedPutFallbackTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly Recorder _recorder = new();
    private WebApplication _app = null!;
    private string _url = string.Empty;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.ConfigureEndpointDefaults(l => l.Protocols = HttpProtocols.Http2));
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc(o => o.MaxReceiveMessageSize = FakeStorageNode.RealNodeMessageLimit);
        builder.Services.AddSingleton(_recorder);
        _app = builder.Build();
        _app.MapGrpcService<RecordingService>();
        await _app.StartAsync();
        _url = _app.Urls.First();
    }

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static List<OutgoingChunk> Chunks(int count, int seed) => Enumerable.Range(0, count).Select(i =>
    {
        var bytes = new byte[500 + (i * 37)];
        new Random(seed + i).NextBytes(bytes);
        return new OutgoingChunk(ChunkId.Compute(bytes), ChunkEncoding.Raw, bytes.Length, "token", bytes);
    }).ToList();

    [Fact]
    public async Task Small_chunks_go_packed_only_while_the_node_says_it_takes_them_and_an_invalid_argument_sends_the_next_call_unpacked()
    {
        using var channels = ClientChannels.Create(ServerTrust.System);
        var transfer = new GrpcChunkTransfer(channels);

        // A node that takes packed messages: the first call cannot know it yet, the second packs.
        _recorder.AcceptsPacked = true;
        var first = Chunks(10, 100);
        await transfer.PutChunksAsync(_url, first, CancellationToken.None).WaitAsync(Timeout);
        Assert.Equal((0, 10), _recorder.TakeCounts());
        Assert.Equal(first.Select(c => c.Id), _recorder.TakeIds());

        var second = Chunks(20, 200);
        await transfer.PutChunksAsync(_url, second, CancellationToken.None).WaitAsync(Timeout);
        var (packedMessages, headerMessages) = _recorder.TakeCounts();
        Assert.True(packedMessages >= 1, $"{packedMessages} packed message(s)");
        Assert.Equal(0, headerMessages);
        Assert.Equal(second.Select(c => c.Id), _recorder.TakeIds());

        // The node at the address is replaced by one that refuses packed messages as an older node does.
        _recorder.AcceptsPacked = false;
        var third = Chunks(5, 300);
        var refused = await Assert.ThrowsAsync<DropboxException>(() => transfer.PutChunksAsync(_url, third, CancellationToken.None).WaitAsync(Timeout));
        Assert.Equal(ErrorKind.InvalidArgument, refused.Kind);
        Assert.False(transfer.SendsPacked(_url));
        _recorder.TakeCounts();
        _recorder.TakeIds();

        await transfer.PutChunksAsync(_url, third, CancellationToken.None).WaitAsync(Timeout);
        Assert.Equal((0, 5), _recorder.TakeCounts());
        Assert.Equal(third.Select(c => c.Id), _recorder.TakeIds());
        Assert.False(transfer.SendsPacked(_url));
    }

    /// <summary>What the recording server saw; shared between the test and the gRPC service.</summary>
    private sealed class Recorder
    {
        private readonly ConcurrentQueue<ChunkId> _ids = new();
        private int _packed;
        private int _headers;

        public volatile bool AcceptsPacked;

        public void Packed(IEnumerable<ChunkId> ids)
        {
            Interlocked.Increment(ref _packed);
            foreach (var id in ids)
            {
                _ids.Enqueue(id);
            }
        }

        public void Header(ChunkId id)
        {
            Interlocked.Increment(ref _headers);
            _ids.Enqueue(id);
        }

        public (int Packed, int Headers) TakeCounts() => (Interlocked.Exchange(ref _packed, 0), Interlocked.Exchange(ref _headers, 0));

        public List<ChunkId> TakeIds()
        {
            var ids = new List<ChunkId>();
            while (_ids.TryDequeue(out var id))
            {
                ids.Add(id);
            }

            return ids;
        }
    }

    private sealed class RecordingService(Recorder recorder) : ChunkStorage.ChunkStorageBase
    {
        public override async Task<PutChunksResponse> PutChunks(IAsyncStreamReader<PutChunkRequest> requestStream, ServerCallContext context)
        {
            var response = new PutChunksResponse { PackedAccepted = recorder.AcceptsPacked };
            while (await requestStream.MoveNext(context.CancellationToken))
            {
                var message = requestStream.Current;
                switch (message.PartCase)
                {
                    case PutChunkRequest.PartOneofCase.Header:
                        recorder.Header(message.Header.ChunkId.ToChunkId());
                        response.Results.Add(new PutChunkResult { ChunkId = message.Header.ChunkId });
                        break;
                    case PutChunkRequest.PartOneofCase.Packed when recorder.AcceptsPacked:
                        recorder.Packed(message.Packed.Headers.Select(h => h.ChunkId.ToChunkId()));
                        response.Results.Add(message.Packed.Headers.Select(h => new PutChunkResult { ChunkId = h.ChunkId }));
                        break;
                    case PutChunkRequest.PartOneofCase.Data:
                        break;
                    default:
                        // An older node sees an unknown field: a request with neither header nor data.
                        throw new RpcException(new Status(StatusCode.InvalidArgument, "Empty PutChunkRequest: set header or data."));
                }
            }

            return response;
        }
    }
}
