using Dropbox.Shared.Channels;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Dropbox.IntegrationTests.Client;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Compression;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tls;
using Dropbox.Shared.Tokens;
using Dropbox.StorageNode;
using Dropbox.StorageNode.Store;
using Dropbox.SyncClient.Remote;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dropbox.IntegrationTests.Storage;

/// <summary>
/// The client's presigned-HTTP chunk transfer against a real storage node (Kestrel on 127.0.0.1:0), plaintext and
/// TLS, and against a hostile fake node. The location's gRPC URL points at a closed port, so a silent fallback to
/// gRPC would fail these tests instead of passing them.
/// </summary>
public sealed class HttpChunkTransferTests
{
    private const string NodeId = "node-http";
    private const string DeadGrpcUrl = "http://127.0.0.1:1";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Chunks_put_and_got_over_plaintext_http_come_back_byte_for_byte_raw_and_lz4()
    {
        await using var node = await Node.StartAsync();
        using var transfer = node.Transfer(ServerTrust.System);
        var raw = Random(300_000, 1);
        var plain = Compressible(500_000);
        var lz4 = Lz4(plain);
        var chunks = new[]
        {
            new OutgoingChunk(raw.Id, ChunkEncoding.Raw, raw.Bytes.Length, node.PutToken(raw.Id), raw.Bytes),
            new OutgoingChunk(ChunkId.Compute(plain), ChunkEncoding.Lz4, plain.Length, node.PutToken(ChunkId.Compute(plain)), lz4),
        };

        await transfer.PutChunksAsync(node.Location, chunks, CancellationToken.None).WaitAsync(Timeout);
        using var gotRaw = (await transfer.GetChunksAsync(node.Location, [raw.Id], node.GetToken(raw.Id), CancellationToken.None)).Single();
        using var gotLz4 = (await transfer.GetChunksAsync(node.Location, [chunks[1].Id], node.GetToken(chunks[1].Id), CancellationToken.None)).Single();

        Assert.Equal(raw.Bytes, gotRaw.Stored.Span.ToArray());
        Assert.Equal(ChunkEncoding.Raw, gotRaw.Encoding);

        // The LZ4 chunk travels as stored; decoded it is the plain bytes.
        Assert.Equal(ChunkEncoding.Lz4, gotLz4.Encoding);
        Assert.Equal(plain.Length, gotLz4.PlainSize);
        Assert.Equal(lz4, gotLz4.Stored.Span.ToArray());
        var decoded = new byte[plain.Length];
        Lz4ChunkCodec.Decode(ChunkEncoding.Lz4, gotLz4.Stored.Span, decoded);
        Assert.Equal(plain, decoded);
    }

    [Fact]
    public async Task Over_tls_a_client_that_trusts_the_ca_round_trips_and_one_that_does_not_is_refused_with_the_fingerprint()
    {
        using var dir = new TempFolder();
        var tls = LocalCertificateAuthority.Ensure(dir.CreateSub("tls"), ["127.0.0.1"]);
        await using var node = await Node.StartAsync(o => o with { GrpcUrl = "https://127.0.0.1:0", TlsCertificate = tls.ServerCertificate });
        using var trusting = node.Transfer(ServerTrust.ForCaFile(tls.CaCertificatePath, "--ca"));
        using var untrusting = node.Transfer(ServerTrust.System);
        var chunk = Random(200_000, 2);

        await trusting.PutChunksAsync(node.Location, [node.Outgoing(chunk)], CancellationToken.None).WaitAsync(Timeout);
        using var got = (await trusting.GetChunksAsync(node.Location, [chunk.Id], node.GetToken(chunk.Id), CancellationToken.None)).Single();
        var refused = await Assert.ThrowsAsync<DropboxException>(() => untrusting.GetChunksAsync(node.Location, [chunk.Id], node.GetToken(chunk.Id), CancellationToken.None));

        Assert.StartsWith("https://", node.Location.HttpUrl, StringComparison.Ordinal);
        Assert.Equal(chunk.Bytes, got.Stored.Span.ToArray());
        Assert.Contains(tls.ServerFingerprint, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_put_with_a_token_for_another_chunk_or_a_get_token_is_refused_and_stores_nothing()
    {
        await using var node = await Node.StartAsync();
        using var transfer = node.Transfer(ServerTrust.System);
        var chunk = Random(100_000, 3);
        var other = Random(100_000, 4);

        var wrongChunk = await Assert.ThrowsAsync<DropboxException>(() =>
            transfer.PutChunksAsync(node.Location, [new OutgoingChunk(chunk.Id, ChunkEncoding.Raw, chunk.Bytes.Length, node.PutToken(other.Id), chunk.Bytes)], CancellationToken.None));
        var getToken = await Assert.ThrowsAsync<DropboxException>(() =>
            transfer.PutChunksAsync(node.Location, [new OutgoingChunk(chunk.Id, ChunkEncoding.Raw, chunk.Bytes.Length, node.GetToken(chunk.Id), chunk.Bytes)], CancellationToken.None));
        var forged = await Assert.ThrowsAsync<DropboxException>(() =>
            transfer.PutChunksAsync(node.Location, [new OutgoingChunk(chunk.Id, ChunkEncoding.Raw, chunk.Bytes.Length, "not-a-token", chunk.Bytes)], CancellationToken.None));

        Assert.Equal(ErrorKind.PermissionDenied, wrongChunk.Kind);
        Assert.Equal(ErrorKind.PermissionDenied, getToken.Kind);
        Assert.Equal(ErrorKind.Unauthenticated, forged.Kind);
        Assert.False(node.Store.Engine.Contains(chunk.Id));
    }

    [Fact]
    public async Task A_get_with_a_put_token_or_a_token_for_another_chunk_is_refused()
    {
        await using var node = await Node.StartAsync();
        using var transfer = node.Transfer(ServerTrust.System);
        var chunk = Random(100_000, 5);
        var other = Random(100_000, 6);
        await transfer.PutChunksAsync(node.Location, [node.Outgoing(chunk), node.Outgoing(other)], CancellationToken.None).WaitAsync(Timeout);

        var putToken = await Assert.ThrowsAsync<DropboxException>(() => transfer.GetChunksAsync(node.Location, [chunk.Id], node.PutToken(chunk.Id), CancellationToken.None));
        var otherToken = await Assert.ThrowsAsync<DropboxException>(() => transfer.GetChunksAsync(node.Location, [chunk.Id], node.GetToken(other.Id), CancellationToken.None));

        Assert.Equal(ErrorKind.PermissionDenied, putToken.Kind);
        Assert.Equal(ErrorKind.PermissionDenied, otherToken.Kind);
    }

    [Fact]
    public async Task Bytes_that_do_not_hash_to_the_chunk_id_are_refused_as_data_loss_and_not_stored()
    {
        await using var node = await Node.StartAsync();
        using var transfer = node.Transfer(ServerTrust.System);
        var chunk = Random(100_000, 7);
        var tampered = chunk.Bytes.ToArray();
        tampered[50_000] ^= 1;

        var refused = await Assert.ThrowsAsync<DropboxException>(() =>
            transfer.PutChunksAsync(node.Location, [new OutgoingChunk(chunk.Id, ChunkEncoding.Raw, tampered.Length, node.PutToken(chunk.Id), tampered)], CancellationToken.None));

        Assert.Equal(ErrorKind.DataLoss, refused.Kind);
        Assert.False(node.Store.Engine.Contains(chunk.Id));
    }

    [Fact]
    public async Task An_oversize_body_is_refused_whether_its_length_is_declared_or_streamed_and_nothing_is_stored()
    {
        await using var node = await Node.StartAsync(o => o with { MaxChunkBytes = 64 * 1024 });
        using var transfer = node.Transfer(ServerTrust.System);
        var big = Random((64 * 1024) + 1, 8);
        using var http = new HttpClient();

        var declared = await Assert.ThrowsAsync<DropboxException>(() => transfer.PutChunksAsync(node.Location, [node.Outgoing(big)], CancellationToken.None));
        using var streamed = new StreamContent(new MemoryStream(big.Bytes));
        streamed.Headers.ContentLength = null;
        using var request = new HttpRequestMessage(HttpMethod.Put, node.Link(big.Id, node.PutToken(big.Id))) { Content = streamed };
        request.Headers.TransferEncodingChunked = true;
        using var response = await http.SendAsync(request);

        Assert.Equal(ErrorKind.InvalidArgument, declared.Kind);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.False(node.Store.Engine.Contains(big.Id));
    }

    [Fact]
    public async Task A_body_cut_off_before_its_declared_length_stores_nothing_and_the_node_goes_on_serving()
    {
        await using var node = await Node.StartAsync();
        using var transfer = node.Transfer(ServerTrust.System);
        var chunk = Random(100_000, 9);
        var uri = new Uri(node.Link(chunk.Id, node.PutToken(chunk.Id)));

        // A raw request: the headers promise 100,000 bytes, 40,000 arrive, then the connection closes.
        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(IPAddress.Loopback, uri.Port);
            var head = Encoding.ASCII.GetBytes($"PUT {uri.PathAndQuery} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {chunk.Bytes.Length}\r\n\r\n");
            await socket.SendAsync(head);
            await socket.SendAsync(chunk.Bytes.AsMemory(0, 40_000));
            socket.Shutdown(SocketShutdown.Send);
            var answer = new byte[4096];
            using var wait = new CancellationTokenSource(Timeout);
            try
            {
                while (await socket.ReceiveAsync(answer, wait.Token) > 0)
                {
                }
            }
            catch (SocketException)
            {
                // The node may answer 400 or just reset the connection: either way it must store nothing.
            }
        }

        Assert.False(node.Store.Engine.Contains(chunk.Id));
        await transfer.PutChunksAsync(node.Location, [node.Outgoing(chunk)], CancellationToken.None).WaitAsync(Timeout);
        Assert.True(node.Store.Engine.Contains(chunk.Id));
    }

    [Fact]
    public async Task A_put_answers_alike_whether_or_not_the_node_held_the_chunk()
    {
        await using var node = await Node.StartAsync();
        var chunk = Random(100_000, 10);
        using var http = new HttpClient();

        async Task<(HttpStatusCode, string)> PutAsync()
        {
            using var response = await http.PutAsync(node.Link(chunk.Id, node.PutToken(chunk.Id)), new ByteArrayContent(chunk.Bytes));
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }

        var first = await PutAsync();
        var again = await PutAsync();

        Assert.Equal(HttpStatusCode.Created, first.Item1);
        Assert.Equal(first, again);
    }

    [Fact]
    public async Task A_node_whose_presigned_port_does_not_speak_http_1_1_is_reached_over_grpc_instead()
    {
        await using var node = await Node.StartAsync();
        using var transfer = node.Transfer(ServerTrust.System);
        var chunk = Random(200_000, 12);
        var multiFrame = Random((2 << 20) + 12_345, 13);

        // The "presigned" URL is the node's gRPC (HTTP/2-only) port: it answers, but not as a chunk endpoint.
        var location = new ChunkLocation { NodeId = NodeId, GrpcUrl = node.GrpcUrl, HttpUrl = node.GrpcUrl };
        await transfer.PutChunksAsync(location, [node.Outgoing(chunk), node.Outgoing(multiFrame)], CancellationToken.None).WaitAsync(Timeout);
        using var got = (await transfer.GetChunksAsync(location, [chunk.Id], node.GetToken(chunk.Id), CancellationToken.None).WaitAsync(Timeout)).Single();
        using var gotMulti = (await transfer.GetChunksAsync(location, [multiFrame.Id], node.GetToken(multiFrame.Id), CancellationToken.None).WaitAsync(Timeout)).Single();

        // One frame adopted as the chunk's buffer; three frames gathered into one.
        Assert.Equal(chunk.Bytes, got.Stored.Span.ToArray());
        Assert.Equal(multiFrame.Bytes, gotMulti.Stored.Span.ToArray());
    }

    [Theory]
    [InlineData("oversize")]
    [InlineData("truncated")]
    [InlineData("unknown-encoding")]
    [InlineData("lz4-without-size")]
    [InlineData("lz4-huge-size")]
    [InlineData("no-length")]
    public async Task A_hostile_node_s_get_answer_is_refused_as_data_loss_or_a_failed_connection_and_nothing_leaks(string lie)
    {
        await using var fake = await HostileNode.StartAsync(lie);
        var location = new ChunkLocation { NodeId = "hostile", GrpcUrl = DeadGrpcUrl, HttpUrl = fake.Url };
        using var channels = ClientChannels.Create(ServerTrust.System);
        using var transfer = new HttpChunkTransfer(ServerTrust.System, new GrpcChunkTransfer(channels), minHttpChunkBytes: 0);

        var refused = await Assert.ThrowsAsync<DropboxException>(() =>
            transfer.GetChunksAsync(location, [Random(10, 11).Id], "token", CancellationToken.None).WaitAsync(Timeout));

        // A lie in the headers is caught before a byte is rented or read; a body cut short shows as a failed read.
        var expected = lie == "truncated" ? refused.Kind is ErrorKind.DataLoss or ErrorKind.Unavailable : refused.Kind == ErrorKind.DataLoss;
        Assert.True(expected, $"{refused.Kind}: {refused.Message}");
    }

    [Fact]
    public async Task A_hostile_node_s_endless_answer_to_a_put_is_not_read_and_the_put_ends_at_once()
    {
        await using var fake = await HostileNode.StartAsync("endless-put");
        var location = new ChunkLocation { NodeId = "hostile", GrpcUrl = DeadGrpcUrl, HttpUrl = fake.Url };
        using var channels = ClientChannels.Create(ServerTrust.System);
        using var transfer = new HttpChunkTransfer(ServerTrust.System, new GrpcChunkTransfer(channels), minHttpChunkBytes: 0);
        var chunk = Random(128 * 1024, 12);

        // The fake answers 201 with the chunk API's mark, then streams up to HostileNode.EndlessBytes and holds the
        // connection open: a client that buffers the answer's body never returns.
        await transfer.PutChunksAsync(location, [new OutgoingChunk(chunk.Id, ChunkEncoding.Raw, chunk.Bytes.Length, "token", chunk.Bytes)], CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(20));

        // That the put returned at all is the check: a client that reads the answer's body takes in EndlessBytes and then
        // waits for an end that never comes. (What the fake wrote is no measure: Kestrel completes writes to a connection
        // the client has closed at once, so the fake's count races to EndlessBytes as soon as the client hangs up.)
        Assert.True(fake.BodyBytesSent > 0, "The fake never started its answer, so the test proved nothing.");
    }

    [Fact]
    public async Task A_node_that_never_answers_a_put_is_given_up_on_after_the_request_timeout()
    {
        await using var fake = await HostileNode.StartAsync("silent-put");
        var location = new ChunkLocation { NodeId = "hostile", GrpcUrl = DeadGrpcUrl, HttpUrl = fake.Url };
        using var channels = ClientChannels.Create(ServerTrust.System);
        using var transfer = new HttpChunkTransfer(ServerTrust.System, new GrpcChunkTransfer(channels), minHttpChunkBytes: 0, requestTimeout: TimeSpan.FromSeconds(1));
        var chunk = Random(1024, 13);

        var refused = await Assert.ThrowsAsync<DropboxException>(() => transfer.PutChunksAsync(
            location, [new OutgoingChunk(chunk.Id, ChunkEncoding.Raw, chunk.Bytes.Length, "token", chunk.Bytes)], CancellationToken.None).WaitAsync(Timeout));

        Assert.Equal(ErrorKind.Unavailable, refused.Kind);
        Assert.Contains("did not finish within 1 s", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://127.0.0.1:5081", "http://127.0.0.1:5082", null)]
    [InlineData("https://127.0.0.1:5081", "https://127.0.0.1:5082/", "https://127.0.0.1:5082")]
    [InlineData("http://127.0.0.1:5081", "http://127.0.0.1:5082", "http://127.0.0.1:5082")]
    [InlineData("http://127.0.0.1:5081", "", null)]
    [InlineData("http://127.0.0.1:5081", "ftp://127.0.0.1:5082", null)]
    [InlineData("http://127.0.0.1:5081", "http://127.0.0.1:5082/?x=1", null)]
    [InlineData("http://127.0.0.1:5081", "http://user:pw@127.0.0.1:5082", null)]
    public void A_presigned_link_is_used_only_when_it_is_a_plain_http_url_no_weaker_than_the_node_s_grpc_url(string grpc, string http, string? expected)
    {
        Assert.Equal(expected, HttpChunkTransfer.HttpBase(new ChunkLocation { NodeId = "n", GrpcUrl = grpc, HttpUrl = http }));
    }

    private static (ChunkId Id, byte[] Bytes) Random(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return (ChunkId.Compute(bytes), bytes);
    }

    private static byte[] Compressible(int size)
    {
        var bytes = new byte[size];
        for (var i = 0; i < size; i++)
        {
            bytes[i] = (byte)"the quick brown fox "[i % 20];
        }

        return bytes;
    }

    private static byte[] Lz4(byte[] plain)
    {
        var encoded = new byte[Lz4ChunkCodec.MaxEncodedLength(plain.Length)];
        var n = K4os.Compression.LZ4.LZ4Codec.Encode(plain, encoded);
        return encoded[..n];
    }

    /// <summary>A real storage node in this process, its tokens, and a client transfer that only speaks HTTP to it.</summary>
    private sealed class Node : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly TempFolder _dir;
        private readonly ChunkTokenService _tokens;
        private readonly List<IDisposable> _owned = [];

        private Node(WebApplication app, TempFolder dir, ChunkTokenService tokens, ChunkLocation location, string grpcUrl)
        {
            GrpcUrl = grpcUrl;
            _app = app;
            _dir = dir;
            _tokens = tokens;
            Location = location;
        }

        public ChunkLocation Location { get; }

        public string GrpcUrl { get; }

        public ChunkStore Store => _app.Services.GetRequiredService<ChunkStore>();

        public static async Task<Node> StartAsync(Func<StorageNodeOptions, StorageNodeOptions>? configure = null)
        {
            var dir = new TempFolder();
            try
            {
                var tokens = ChunkTokenService.ForKeyDirectory(dir.CreateSub("keys"));
                var options = SmallStorageNode.Options(dir.CreateSub("data"), dir.CreateSub("keys"), NodeId);
                var app = StorageNodeHost.Build(configure?.Invoke(options) ?? options, logging => logging.SetMinimumLevel(LogLevel.Warning));
                await app.StartAsync();
                var (grpcUrl, httpUrl) = await app.Services.GetRequiredService<NodeAddresses>().WhenBound.WaitAsync(Timeout);
                return new Node(app, dir, tokens, new ChunkLocation { NodeId = NodeId, GrpcUrl = DeadGrpcUrl, HttpUrl = httpUrl }, grpcUrl);
            }
            catch
            {
                dir.Dispose();
                throw;
            }
        }

        public HttpChunkTransfer Transfer(ServerTrust trust)
        {
            var channels = ClientChannels.Create(trust);
            _owned.Add(channels);
            return new HttpChunkTransfer(trust, new GrpcChunkTransfer(channels), minHttpChunkBytes: 0);
        }

        public string PutToken(ChunkId id) => _tokens.Issue(TokenOperation.Put, "ns", NodeId, [id], TimeSpan.FromMinutes(5));

        public string GetToken(ChunkId id) => _tokens.Issue(TokenOperation.Get, "ns", NodeId, [id], TimeSpan.FromMinutes(5));

        public OutgoingChunk Outgoing((ChunkId Id, byte[] Bytes) chunk) => new(chunk.Id, ChunkEncoding.Raw, chunk.Bytes.Length, PutToken(chunk.Id), chunk.Bytes);

        public string Link(ChunkId id, string token) => $"{Location.HttpUrl}/chunks/{id}?token={Uri.EscapeDataString(token)}";

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            foreach (var owned in _owned)
            {
                owned.Dispose();
            }

            _dir.Dispose();
        }
    }

    /// <summary>An HTTP/1.1 server on 127.0.0.1:0 that answers every chunk GET (or PUT) with one kind of lie.</summary>
    private sealed class HostileNode : IAsyncDisposable
    {
        /// <summary>Most bytes of an "endless" put answer sent (then the connection is held open).</summary>
        public const long EndlessBytes = 256L << 20;

        private readonly WebApplication _app;
        private readonly long[] _sent;

        private HostileNode(WebApplication app, string url, long[] sent)
        {
            _app = app;
            Url = url;
            _sent = sent;
        }

        public string Url { get; }

        /// <summary>Bytes of put answers' bodies written so far.</summary>
        public long BodyBytesSent => Interlocked.Read(ref _sent[0]);

        public static async Task<HostileNode> StartAsync(string lie)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http1));
            var app = builder.Build();
            var sent = new long[1];
            app.MapPut("/chunks/{id}", async (HttpContext http) =>
            {
                await http.Request.Body.CopyToAsync(Stream.Null, http.RequestAborted);
                if (lie == "silent-put")
                {
                    await Task.Delay(Timeout, http.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
                    http.Abort();
                    return;
                }

                http.Response.StatusCode = StatusCodes.Status201Created;
                http.Response.Headers[ChunkHttpHeaders.Api] = ChunkHttpHeaders.ApiVersion;
                var block = new byte[64 * 1024];
                try
                {
                    while (Interlocked.Read(ref sent[0]) < EndlessBytes)
                    {
                        // Counted before the write: the headers go out with the first one, so a client that saw the
                        // answer always finds the count above zero.
                        Interlocked.Add(ref sent[0], block.Length);
                        await http.Response.Body.WriteAsync(block, http.RequestAborted);
                    }

                    await http.Response.Body.FlushAsync(http.RequestAborted);
                    await Task.Delay(Timeout, http.RequestAborted);
                }
                catch (Exception e) when (e is OperationCanceledException or IOException)
                {
                    // The client went away: what it should do.
                }

                http.Abort();
            });
            app.MapGet("/chunks/{id}", async (HttpContext http) =>
            {
                var body = RandomNumberGenerator.GetBytes(1000);
                http.Response.Headers[ChunkHttpHeaders.Api] = ChunkHttpHeaders.ApiVersion;
                switch (lie)
                {
                    case "oversize":
                        // Headers and a first part go out; the rest never comes (the client must not wait for it).
                        http.Response.ContentLength = (long)GrpcChunkTransfer.MaxStoredChunkBytes + 1;
                        await http.Response.Body.WriteAsync(body);
                        await http.Response.Body.FlushAsync();
                        await Task.Delay(Timeout, http.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
                        http.Abort();
                        return;
                    case "truncated":
                        http.Response.ContentLength = 100_000;
                        await http.Response.Body.WriteAsync(body);
                        await http.Response.Body.FlushAsync();
                        http.Abort();
                        return;
                    case "unknown-encoding":
                        http.Response.Headers[ChunkHttpHeaders.Encoding] = "zstd";
                        break;
                    case "lz4-without-size":
                        http.Response.Headers[ChunkHttpHeaders.Encoding] = "lz4";
                        break;
                    case "lz4-huge-size":
                        http.Response.Headers[ChunkHttpHeaders.Encoding] = "lz4";
                        http.Response.Headers[ChunkHttpHeaders.PlainSize] = "2147483647";
                        break;
                    case "no-length":
                        await http.Response.Body.WriteAsync(body);
                        return;
                }

                http.Response.ContentLength = body.Length;
                await http.Response.Body.WriteAsync(body);
            });
            await app.StartAsync();
            var address = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
                .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.Single();
            return new HostileNode(app, address.Replace("localhost", "127.0.0.1", StringComparison.Ordinal), sent);
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
