using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Dropbox.Hosting;
using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Store;
using Microsoft.Extensions.DependencyInjection;

namespace Dropbox.StorageNode.Tests.Services;

/// <summary>
/// The presigned HTTP PUT as it stores a body from the connection's pipe (no copy into a buffer of its own): bodies
/// bigger than the pipe's usual limit and spread over many pipe buffers (256 KiB each), sent in small pieces over a raw
/// socket, are stored byte for byte and hashed whole; oversize bodies are refused; a client that goes away mid-body
/// leaves nothing behind. Real Kestrel on 127.0.0.1.
/// </summary>
public sealed class ChunkHttpPutTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private NodeFixture _node = null!;

    public async Task InitializeAsync() => _node = await NodeFixture.StartAsync();

    public async Task DisposeAsync() => await _node.DisposeAsync();

    [Fact]
    public async Task A_whole_size_body_sent_in_many_small_pieces_is_stored_byte_for_byte()
    {
        // The largest chunk the node takes by default: four times the socket pipe's usual 1 MiB limit, over ~17 of its buffers.
        var (id, bytes) = TestChunks.Random(StoreLimits.DefaultMaxChunkBytes, 1);

        var (status, body) = await PutRawAsync(id, bytes, piecewise: true);

        Assert.True(status == 201, $"{status}: {body}");
        using var stored = await _node.Store.ReadAsync(id, CancellationToken.None);
        Assert.Equal(ChunkEncoding.Raw, stored.Encoding);
        Assert.True(bytes.AsSpan().SequenceEqual(stored.Data.Span), "the stored bytes differ from the bytes sent");
        using var got = await _node.Http.GetAsync($"{_node.HttpUrl}/chunks/{id}?token={Uri.EscapeDataString(_node.GetToken(id))}");
        Assert.Equal(bytes, await got.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(StoreLimits.DefaultMaxChunkBytes / 2)]
    [InlineData(StoreLimits.DefaultMaxChunkBytes - 1)]
    public async Task A_body_in_pieces_with_one_byte_that_does_not_match_the_id_is_refused_and_nothing_is_stored(int flipped)
    {
        // The flipped byte lies in the first, a middle or the last of the pipe's buffers: every piece is hashed.
        var (id, bytes) = TestChunks.Random(StoreLimits.DefaultMaxChunkBytes, 2);
        var tampered = bytes.ToArray();
        tampered[flipped] ^= 0x40;

        var (status, body) = await PutRawAsync(id, tampered, piecewise: true);

        Assert.Equal(422, status);
        Assert.Contains("Hash mismatch", body, StringComparison.Ordinal);
        Assert.False(_node.Store.Engine.Contains(id));
        Assert.Equal(0, _node.Store.Engine.GetStats().ChunkCount);
    }

    [Fact]
    public async Task An_lz4_body_in_pieces_is_decoded_checked_and_stored_as_sent()
    {
        var (id, plain) = TestChunks.Compressible(StoreLimits.DefaultMaxChunkBytes, 3);
        var encoded = new byte[K4os.Compression.LZ4.LZ4Codec.MaximumOutputSize(plain.Length)];
        encoded = encoded[..K4os.Compression.LZ4.LZ4Codec.Encode(plain, encoded)];
        Assert.True(encoded.Length > 2 * Dropbox.StorageNode.Services.LargeBlockMemoryPool.BlockSize, "the LZ4 body must span several pipe buffers");

        var (status, body) = await PutRawAsync(id, encoded, piecewise: true, headers: $"X-Chunk-Encoding: lz4\r\nX-Plain-Size: {plain.Length}\r\n");

        Assert.True(status == 201, $"{status}: {body}");
        using var stored = await _node.Store.ReadAsync(id, CancellationToken.None);
        Assert.Equal(ChunkEncoding.Lz4, stored.Encoding);
        Assert.Equal(plain.Length, stored.PlainLength);
        Assert.True(encoded.AsSpan().SequenceEqual(stored.Data.Span), "the stored LZ4 bytes differ from the bytes sent");
    }

    [Fact]
    public async Task A_body_over_the_limit_is_refused_whether_its_length_is_declared_or_not_and_nothing_is_stored()
    {
        var (id, bytes) = TestChunks.Random(StoreLimits.DefaultMaxChunkBytes + 1, 4);

        var declared = await PutRawAsync(id, bytes, piecewise: false);
        var chunked = await PutRawAsync(id, bytes, piecewise: false, declare: false);

        Assert.Equal(400, declared.Status);
        Assert.Contains($"The body is {bytes.Length} bytes; this node accepts chunks of at most {StoreLimits.DefaultMaxChunkBytes} bytes.", declared.Body, StringComparison.Ordinal);
        Assert.Equal(400, chunked.Status);
        Assert.Contains($"The body is over {StoreLimits.DefaultMaxChunkBytes} bytes", chunked.Body, StringComparison.Ordinal);
        Assert.False(_node.Store.Engine.Contains(id));
        Assert.Equal(0, _node.Store.Engine.GetStats().ChunkCount);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_client_that_goes_away_mid_body_leaves_nothing_stored_and_the_chunk_can_be_put_again(bool reset)
    {
        var (id, bytes) = TestChunks.Random(StoreLimits.DefaultMaxChunkBytes, 5);
        var uri = new Uri($"{_node.HttpUrl}/chunks/{id}?token={Uri.EscapeDataString(_node.PutToken(id))}");
        var endedBefore = await CompletedPutsAsync();

        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true })
        {
            await socket.ConnectAsync(IPAddress.Loopback, uri.Port);
            await socket.SendAsync(Encoding.ASCII.GetBytes($"PUT {uri.PathAndQuery} HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: {bytes.Length}\r\n\r\n"));

            // Kestrel says "100 Continue" once the handler starts reading the body: the request is under way, and will be
            // counted as it ends, before the client goes away (an RST before that could end the connection unseen).
            using var started = new CancellationTokenSource(Timeout);
            var (status, _) = await ReadAnswerAsync(socket, started.Token);
            Assert.Equal(100, status);
            await SendInPiecesAsync(socket, bytes.AsMemory(0, (bytes.Length / 2) + 12_345));
            if (reset)
            {
                // An abortive close (RST): the node's read fails at once.
                socket.LingerState = new LingerOption(true, 0);
            }
            else
            {
                // The client says it is done sending: the node sees the body end early.
                socket.Shutdown(SocketShutdown.Send);
            }
        }

        // The request has ended on the node (the request middleware counts it whatever the outcome).
        using var wait = new CancellationTokenSource(Timeout);
        while (await CompletedPutsAsync() == endedBefore)
        {
            await Task.Delay(20, wait.Token);
        }

        Assert.False(_node.Store.Engine.Contains(id));
        Assert.Equal(0, _node.Store.Engine.GetStats().ChunkCount);
        var again = await PutRawAsync(id, bytes, piecewise: false);
        Assert.True(again.Status == 201, $"{again.Status}: {again.Body}");
        Assert.Equal(1, _node.Store.Engine.GetStats().ChunkCount);
    }

    /// <summary>
    /// Sends a PUT of <paramref name="body"/> over a raw socket (Content-Length, or chunked when not
    /// <paramref name="declare"/>) and reads the answer. Piecewise, the body goes out in pieces of 1-16 KiB, each its own
    /// send with Nagle off, so the node receives it bit by bit. The answer is read while the body is still going out:
    /// the node may refuse before it has read the body.
    /// </summary>
    private async Task<(int Status, string Body)> PutRawAsync(ChunkId id, byte[] body, bool piecewise, bool declare = true, string headers = "")
    {
        var uri = new Uri($"{_node.HttpUrl}/chunks/{id}?token={Uri.EscapeDataString(_node.PutToken(id))}");
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, uri.Port).WaitAsync(Timeout);
        var framing = declare ? $"Content-Length: {body.Length}" : "Transfer-Encoding: chunked";
        await socket.SendAsync(Encoding.ASCII.GetBytes($"PUT {uri.PathAndQuery} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}{framing}\r\n\r\n"));
        using var timeout = new CancellationTokenSource(Timeout);
        var answer = ReadAnswerAsync(socket, timeout.Token);
        try
        {
            if (!declare)
            {
                for (var offset = 0; offset < body.Length; offset += 64 * 1024)
                {
                    var n = Math.Min(64 * 1024, body.Length - offset);
                    await socket.SendAsync(Encoding.ASCII.GetBytes(n.ToString("x", CultureInfo.InvariantCulture) + "\r\n"), timeout.Token);
                    await socket.SendAsync(body.AsMemory(offset, n), timeout.Token);
                    await socket.SendAsync("\r\n"u8.ToArray(), timeout.Token);
                }

                await socket.SendAsync("0\r\n\r\n"u8.ToArray(), timeout.Token);
            }
            else if (piecewise)
            {
                await SendInPiecesAsync(socket, body, timeout.Token);
            }
            else
            {
                await socket.SendAsync(body, timeout.Token);
            }
        }
        catch (SocketException)
        {
            // The node answered and closed before taking the whole body (a refusal): its answer is what counts.
        }

        return await answer;
    }

    private static async Task SendInPiecesAsync(Socket socket, ReadOnlyMemory<byte> body, CancellationToken cancellationToken = default)
    {
        var sizes = new Random(body.Length);
        for (var offset = 0; offset < body.Length;)
        {
            var n = Math.Min(sizes.Next(1024, 16 * 1024), body.Length - offset);
            await socket.SendAsync(body.Slice(offset, n), cancellationToken);
            offset += n;
        }
    }

    /// <summary>Reads one HTTP/1.1 answer (status line, headers, body: Content-Length, chunked, or up to the close).</summary>
    private static async Task<(int Status, string Body)> ReadAnswerAsync(Socket socket, CancellationToken cancellationToken)
    {
        var received = new List<byte>();
        var buffer = new byte[8192];
        int headerEnd;
        while ((headerEnd = IndexOf(received, "\r\n\r\n"u8, 0)) < 0)
        {
            var n = await socket.ReceiveAsync(buffer, cancellationToken);
            if (n == 0)
            {
                throw new IOException($"The node closed the connection before answering ({received.Count} bytes).");
            }

            received.AddRange(buffer.AsSpan(0, n));
        }

        var head = Encoding.ASCII.GetString(received.GetRange(0, headerEnd).ToArray()).Split("\r\n");
        var status = int.Parse(head[0].Split(' ')[1], CultureInfo.InvariantCulture);
        if (status < 200)
        {
            // An interim answer (100 Continue): headers only, and nothing after it until the body is sent.
            return (status, string.Empty);
        }

        string? Header(string name) => head.Skip(1).Where(l => l.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase)).Select(l => l[(name.Length + 1)..].Trim()).FirstOrDefault();
        var length = Header("Content-Length") is { } declared ? int.Parse(declared, CultureInfo.InvariantCulture) : (int?)null;
        var chunked = Header("Transfer-Encoding") is { } te && te.Contains("chunked", StringComparison.OrdinalIgnoreCase);
        var start = headerEnd + 4;
        bool Complete() => length is { } l ? received.Count >= start + l : chunked && IndexOf(received, "\r\n0\r\n\r\n"u8, start - 2) >= 0;
        try
        {
            while (!Complete())
            {
                var n = await socket.ReceiveAsync(buffer, cancellationToken);
                if (n == 0)
                {
                    break;
                }

                received.AddRange(buffer.AsSpan(0, n));
            }
        }
        catch (SocketException)
        {
            // Reset after the answer: what arrived is the answer.
        }

        var body = received.Skip(start).ToArray();
        if (length is { } exact)
        {
            body = body[..Math.Min(exact, body.Length)];
        }
        else if (chunked)
        {
            body = Dechunk(body);
        }

        return (status, Encoding.UTF8.GetString(body));
    }

    private static byte[] Dechunk(byte[] body)
    {
        var plain = new List<byte>();
        var at = 0;
        while (at < body.Length)
        {
            var lineEnd = IndexOf([.. body], "\r\n"u8, at);
            if (lineEnd < 0)
            {
                break;
            }

            var size = int.Parse(Encoding.ASCII.GetString(body, at, lineEnd - at), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (size == 0)
            {
                break;
            }

            plain.AddRange(body.AsSpan(lineEnd + 2, Math.Min(size, body.Length - lineEnd - 2)));
            at = lineEnd + 2 + size + 2;
        }

        return [.. plain];
    }

    private static int IndexOf(List<byte> received, ReadOnlySpan<byte> marker, int from)
    {
        for (var i = Math.Max(0, from); i + marker.Length <= received.Count; i++)
        {
            var match = true;
            for (var j = 0; j < marker.Length && match; j++)
            {
                match = received[i + j] == marker[j];
            }

            if (match)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>PUT requests to <c>/chunks/{id}</c> the node has finished with, any status (its own request metrics).</summary>
    private async Task<double> CompletedPutsAsync()
    {
        using var text = new MemoryStream();
        await _node.Services.GetRequiredService<NodeMetrics>().Registry.CollectAndExportAsTextAsync(text);
        return Encoding.UTF8.GetString(text.ToArray())
            .Split('\n')
            .Where(l => l.StartsWith("dropbox_http_requests_total{", StringComparison.Ordinal) && l.Contains("route=\"/chunks/{id}\"", StringComparison.Ordinal) && l.Contains("method=\"PUT\"", StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
    }
}
