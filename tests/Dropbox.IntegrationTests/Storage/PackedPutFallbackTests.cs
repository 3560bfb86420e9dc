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
/// a node whose last answer said it takes them; any failure of a packed call sends the next calls back to the header
/// and data form, and an INVALID_ARGUMENT (an older node) has the same batch sent again plain within the call.
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
    public async Task Small_chunks_go_packed_until_the_node_refuses_them_and_an_invalid_argument_has_the_same_batch_sent_again_unpacked()
    {
        using var channels = ClientChannels.Create(ServerTrust.System);
        var transfer = new GrpcChunkTransfer(channels);

        // A node that takes packed messages: the first call packs already (no answer is waited for).
        _recorder.AcceptsPacked = true;
        var first = Chunks(10, 100);
        await transfer.PutChunksAsync(_url, first, CancellationToken.None).WaitAsync(Timeout);
        var (firstPacked, firstHeaders) = _recorder.TakeCounts();
        Assert.True(firstPacked >= 1, $"{firstPacked} packed message(s)");
        Assert.Equal(0, firstHeaders);
        Assert.Equal(first.Select(c => c.Id), _recorder.TakeIds());

        var second = Chunks(20, 200);
        await transfer.PutChunksAsync(_url, second, CancellationToken.None).WaitAsync(Timeout);
        var (packedMessages, headerMessages) = _recorder.TakeCounts();
        Assert.True(packedMessages >= 1, $"{packedMessages} packed message(s)");
        Assert.Equal(0, headerMessages);
        Assert.Equal(second.Select(c => c.Id), _recorder.TakeIds());

        // The node at the address is replaced by one that refuses packed messages as an older node does: the batch
        // that meets the refusal is sent again in the plain form within the same call, so the caller sees success.
        _recorder.AcceptsPacked = false;
        var third = Chunks(5, 300);
        await transfer.PutChunksAsync(_url, third, CancellationToken.None).WaitAsync(Timeout);
        AssertReceivedPlain(third, refusals: 1);
        Assert.False(transfer.SendsPacked(_url));

        // The next call goes plain from the start: no second refusal.
        var fourth = Chunks(7, 400);
        await transfer.PutChunksAsync(_url, fourth, CancellationToken.None).WaitAsync(Timeout);
        AssertReceivedPlain(fourth, refusals: 0);
        Assert.False(transfer.SendsPacked(_url));
    }

    [Fact]
    public async Task A_first_packed_call_to_a_node_never_heard_to_take_them_that_fails_otherwise_than_invalid_argument_is_sent_again_plain()
    {
        using var channels = ClientChannels.Create(ServerTrust.System);
        var transfer = new GrpcChunkTransfer(channels);

        // An older node's refusal can reach a client still writing a batch of several packed messages as a reset
        // stream, not as INVALID_ARGUMENT: a node not yet heard to take packed messages gets the batch again plain.
        _recorder.AcceptsPacked = true;
        _recorder.PackedFailure = StatusCode.Unavailable;
        var first = Chunks(300, 1000);
        await transfer.PutChunksAsync(_url, first, CancellationToken.None).WaitAsync(Timeout);
        AssertReceivedPlain(first, refusals: 1);
    }

    [Fact]
    public async Task A_client_new_to_an_older_node_has_its_first_packed_call_refused_once_sent_again_plain_and_sends_plain_from_then_on()
    {
        using var channels = ClientChannels.Create(ServerTrust.System);
        var transfer = new GrpcChunkTransfer(channels);
        _recorder.AcceptsPacked = false;

        var first = Chunks(8, 800);
        await transfer.PutChunksAsync(_url, first, CancellationToken.None).WaitAsync(Timeout);
        AssertReceivedPlain(first, refusals: 1);
        Assert.False(transfer.SendsPacked(_url));

        var second = Chunks(3, 900);
        await transfer.PutChunksAsync(_url, second, CancellationToken.None).WaitAsync(Timeout);
        AssertReceivedPlain(second, refusals: 0);
    }

    [Fact]
    public async Task A_packed_call_that_fails_with_a_status_other_than_invalid_argument_fails_and_sends_the_next_call_unpacked()
    {
        using var channels = ClientChannels.Create(ServerTrust.System);
        var transfer = new GrpcChunkTransfer(channels);
        _recorder.AcceptsPacked = true;
        await transfer.PutChunksAsync(_url, Chunks(3, 500), CancellationToken.None).WaitAsync(Timeout);
        Assert.True(transfer.SendsPacked(_url));
        _recorder.TakeCounts();
        _recorder.TakeIds();

        // Whatever now answers at the address (a replaced node, a proxy) fails a packed message with INTERNAL: that
        // call fails as it did (not sent again: only INVALID_ARGUMENT means "not understood"), and the flag is gone.
        _recorder.PackedFailure = StatusCode.Internal;
        var failed = await Assert.ThrowsAsync<DropboxException>(() => transfer.PutChunksAsync(_url, Chunks(4, 600), CancellationToken.None).WaitAsync(Timeout));
        Assert.NotEqual(ErrorKind.InvalidArgument, failed.Kind);
        Assert.Equal(1, _recorder.TakeRefusals());
        Assert.Equal(0, _recorder.TakeCounts().Headers);
        Assert.False(transfer.SendsPacked(_url));
        _recorder.TakeIds();

        var next = Chunks(6, 700);
        await transfer.PutChunksAsync(_url, next, CancellationToken.None).WaitAsync(Timeout);
        AssertReceivedPlain(next, refusals: 0);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_answer_that_names_other_chunks_than_those_sent_at_its_places_acknowledges_nothing(bool acceptsPacked)
    {
        using var channels = ClientChannels.Create(ServerTrust.System);
        var transfer = new GrpcChunkTransfer(channels);
        _recorder.AcceptsPacked = acceptsPacked;
        _recorder.AnswersOutOfOrder = true;

        // As many results as chunks, but not theirs: counting them would take the call as done.
        var failed = await Assert.ThrowsAsync<DropboxException>(() => transfer.PutChunksAsync(_url, Chunks(5, 1100), CancellationToken.None).WaitAsync(Timeout));

        Assert.Equal(ErrorKind.Unavailable, failed.Kind);
        Assert.Contains("another chunk's id", failed.Message);
    }

    // The server saw the refusals of packed messages given, then every chunk of the call sent plain (a header message
    // each, no packed message), in order.
    private void AssertReceivedPlain(List<OutgoingChunk> chunks, int refusals)
    {
        Assert.Equal(refusals, _recorder.TakeRefusals());
        Assert.Equal((0, chunks.Count), _recorder.TakeCounts());
        Assert.Equal(chunks.Select(c => c.Id), _recorder.TakeIds());
    }

    [Fact]
    public async Task A_node_that_says_it_takes_token_tables_gets_each_shared_token_once_per_message_from_its_next_call_on()
    {
        using var channels = ClientChannels.Create(ServerTrust.System);
        var transfer = new GrpcChunkTransfer(channels);
        _recorder.AcceptsPacked = true;
        _recorder.AcceptsTables = true;

        // Before any answer: the original form, every header with its token.
        await transfer.PutChunksAsync(_url, SharedTokens(Chunks(20, 700), 16), CancellationToken.None).WaitAsync(Timeout);
        Assert.Equal((0, 20), _recorder.TakeTokens());
        _recorder.TakeIds();
        Assert.True(transfer.SendsTokenTables(_url));

        // After it: 40 chunks under 3 tokens (16, 16, 8), listed once each per message, no header with its own.
        var second = SharedTokens(Chunks(40, 800), 16);
        await transfer.PutChunksAsync(_url, second, CancellationToken.None).WaitAsync(Timeout);
        var (packed, headers) = _recorder.TakeCounts();
        Assert.Equal(0, headers);
        var (listed, own) = _recorder.TakeTokens();
        Assert.Equal(0, own);
        Assert.InRange(listed, 3, 3 + packed - 1); // a token spanning two messages is listed in each
        Assert.Equal(second.Select(c => c.Id), _recorder.TakeIds());
    }

    [Fact]
    public async Task A_node_whose_answers_do_not_say_it_takes_token_tables_keeps_getting_each_headers_own_token()
    {
        using var channels = ClientChannels.Create(ServerTrust.System);
        var transfer = new GrpcChunkTransfer(channels);
        _recorder.AcceptsPacked = true; // an older node: packed messages, but no tables

        for (var call = 0; call < 2; call++)
        {
            var chunks = SharedTokens(Chunks(20, 900 + (call * 50)), 16);
            await transfer.PutChunksAsync(_url, chunks, CancellationToken.None).WaitAsync(Timeout);
            Assert.Equal((0, 20), _recorder.TakeTokens());
            Assert.Equal(chunks.Select(c => c.Id), _recorder.TakeIds());
            Assert.False(transfer.SendsTokenTables(_url));
        }
    }

    [Fact]
    public async Task A_node_that_took_token_tables_replaced_by_one_that_does_not_has_the_batch_sent_again_in_the_original_form()
    {
        // The node at the address said token_table_accepted, then is replaced by the release before tables (packed
        // messages yes, tables no). That node ignores PackedChunks.tokens and token_index, reads each header's own (now
        // empty) token and refuses the message UNAUTHENTICATED ("Missing token"). The batch must go again in the
        // original packed form, not fail with a misleading token error (review s54t's MEDIUM).
        using var channels = ClientChannels.Create(ServerTrust.System);
        var transfer = new GrpcChunkTransfer(channels);
        _recorder.AcceptsPacked = true;
        _recorder.AcceptsTables = true;
        await transfer.PutChunksAsync(_url, SharedTokens(Chunks(20, 700), 16), CancellationToken.None).WaitAsync(Timeout);
        Assert.True(transfer.SendsTokenTables(_url));
        _recorder.TakeCounts();
        _recorder.TakeIds();
        _recorder.TakeTokens();

        _recorder.AcceptsTables = false;
        _recorder.ReadsOwnTokens = true; // the older packed node

        var batch = SharedTokens(Chunks(40, 1300), 16);
        var failure = await Record.ExceptionAsync(() => transfer.PutChunksAsync(_url, batch, CancellationToken.None).WaitAsync(Timeout));

        Assert.False(transfer.SendsTokenTables(_url));
        Assert.True(failure is null, $"the batch to the replaced node failed instead of being sent again in the original form: {failure}");
        Assert.Equal(batch.Select(c => c.Id), _recorder.TakeIds());
        Assert.Equal((0, 40), _recorder.TakeTokens()); // the batch again, every header with its own token
        Assert.True(transfer.SendsPacked(_url));
    }

    // The chunks with a token shared by each run of `per` (as a plan shares one among up to 16 chunks).
    private static List<OutgoingChunk> SharedTokens(List<OutgoingChunk> chunks, int per) =>
        chunks.Select((c, i) => c with { Token = $"token-{i / per}-{new string('x', 900)}" }).ToList();

    /// <summary>What the recording server saw; shared between the test and the gRPC service.</summary>
    private sealed class Recorder
    {
        private readonly ConcurrentQueue<ChunkId> _ids = new();
        private int _packed;
        private int _headers;
        private int _refusals;

        public volatile bool AcceptsPacked;

        /// <summary>When set, a packed message with a header lacking its own token is refused UNAUTHENTICATED (an older packed node, which knows no token table).</summary>
        public volatile bool ReadsOwnTokens;

        /// <summary>When set, answers say token_table_accepted (a node that takes each put token once per packed message).</summary>
        public volatile bool AcceptsTables;

        private int _tokensListed;
        private int _ownTokens;

        /// <summary>Put tokens listed in packed messages' tables, and packed headers carrying a token of their own, since the last take.</summary>
        public (int Listed, int Own) TakeTokens() => (Interlocked.Exchange(ref _tokensListed, 0), Interlocked.Exchange(ref _ownTokens, 0));

        public void Tokens(PackedChunks packed)
        {
            Interlocked.Add(ref _tokensListed, packed.Tokens.Count);
            Interlocked.Add(ref _ownTokens, packed.Headers.Count(h => h.Token.Length > 0));
        }

        /// <summary>When set, a packed message is failed with this status (whatever <see cref="AcceptsPacked"/> says).</summary>
        public StatusCode? PackedFailure { get; set; }

        /// <summary>When set, the call's answer lists the right number of chunks in reverse order (other chunks' ids at each place).</summary>
        public volatile bool AnswersOutOfOrder;

        public void Refused() => Interlocked.Increment(ref _refusals);

        public int TakeRefusals() => Interlocked.Exchange(ref _refusals, 0);

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
            var response = new PutChunksResponse { PackedAccepted = recorder.AcceptsPacked, TokenTableAccepted = recorder.AcceptsTables };
            while (await requestStream.MoveNext(context.CancellationToken))
            {
                var message = requestStream.Current;
                switch (message.PartCase)
                {
                    case PutChunkRequest.PartOneofCase.Header:
                        recorder.Header(message.Header.ChunkId.ToChunkId());
                        response.Results.Add(new PutChunkResult { ChunkId = message.Header.ChunkId });
                        break;
                    case PutChunkRequest.PartOneofCase.Packed when recorder.PackedFailure is { } failure:
                        recorder.Refused();
                        throw new RpcException(new Status(failure, "Refused by the test."));
                    case PutChunkRequest.PartOneofCase.Packed when recorder.ReadsOwnTokens && message.Packed.Headers.Any(h => h.Token.Length == 0):
                        recorder.Refused();
                        throw new RpcException(new Status(StatusCode.Unauthenticated, "Missing token: ask the metadata node for a signed token for this chunk."));
                    case PutChunkRequest.PartOneofCase.Packed when recorder.AcceptsPacked:
                        recorder.Packed(message.Packed.Headers.Select(h => h.ChunkId.ToChunkId()));
                        recorder.Tokens(message.Packed);
                        response.Results.Add(message.Packed.Headers.Select(h => new PutChunkResult { ChunkId = h.ChunkId }));
                        break;
                    case PutChunkRequest.PartOneofCase.Data:
                        break;
                    default:
                        // An older node sees an unknown field: a request with neither header nor data.
                        recorder.Refused();
                        throw new RpcException(new Status(StatusCode.InvalidArgument, "Empty PutChunkRequest: set header or data."));
                }
            }

            if (recorder.AnswersOutOfOrder)
            {
                var reversed = response.Results.Reverse().ToList();
                response.Results.Clear();
                response.Results.Add(reversed);
            }

            return response;
        }
    }
}
