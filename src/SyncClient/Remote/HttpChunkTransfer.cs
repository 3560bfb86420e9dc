using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tls;
using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Remote;

/// <summary>
/// <see cref="IChunkTransfer"/> over the storage nodes' presigned HTTP/1.1 links (<c>PUT/GET /chunks/{id}?token=…</c>),
/// one request per chunk, several connections per node. Measured cheaper per byte than gRPC streams for chunks of
/// <see cref="MinHttpChunkBytes"/> and more (no HTTP/2 framing, flow control or per-message buffers on either side);
/// puts of smaller chunks, where a request per chunk costs more than the bytes, go as one gRPC stream through
/// <see cref="_grpc"/>, as do calls that name a node by its gRPC URL alone or whose presigned URL would be weaker
/// (plaintext where gRPC is TLS) or malformed.
/// </summary>
/// <remarks>
/// Everything a node answers is hostile: a GET's length is checked against <see cref="GrpcChunkTransfer.MaxStoredChunkBytes"/>
/// and the declared sizes before anything is rented, the body must be exactly that long, and the caller re-hashes it.
/// https links are validated by the client's one <see cref="ServerTrust"/>.
/// </remarks>
internal sealed class HttpChunkTransfer : IChunkTransfer, IDisposable
{
    /// <summary>Smallest average chunk of a put call sent as HTTP requests; smaller ones go in one gRPC stream.</summary>
    public const int MinHttpChunkBytes = 64 * 1024;

    /// <summary>Requests of one call in flight at once (a group commit on the node covers them together).</summary>
    public const int RequestsPerCall = 4;

    /// <summary>Connections kept per node.</summary>
    public const int ConnectionsPerNode = 16;

    /// <summary>
    /// Longest token sent in a URL (a node takes request lines of 8 KiB): a get token naming very many chunks goes by
    /// gRPC instead. The metadata node's tokens (16 chunks at most) are far shorter.
    /// </summary>
    public const int MaxUrlTokenChars = 6000;

    /// <summary>How long a node whose presigned links could not be reached is served by gRPC only.</summary>
    public static readonly TimeSpan LinkRetryAfter = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Longest one chunk request may take, answer and body included (a node that stalls or trickles is given up on):
    /// generous for a 16 MiB chunk on a slow link (about 28 KiB/s).
    /// </summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromMinutes(10);

    /// <summary>Most characters of an error body kept.</summary>
    private const int MaxErrorBody = 2000;

    /// <summary>Marks (in <see cref="DropboxException.Details"/>) a request that never got an HTTP answer.</summary>
    private const string LinkFailed = "http-link-failed";

    // Base URLs whose links failed at the connection level, and until when (Environment.TickCount64) to avoid them.
    private readonly ConcurrentDictionary<string, long> _unreachable = new(StringComparer.Ordinal);

    private readonly GrpcChunkTransfer _grpc;
    private readonly HttpClient _http;
    private readonly int _minHttpChunkBytes;
    private readonly bool _allowGets;
    private readonly TimeSpan _requestTimeout;

    /// <summary>
    /// Creates the transfer. <paramref name="minHttpChunkBytes"/> is the smallest average chunk put by HTTP (0: every
    /// put; <see cref="int.MaxValue"/>: none); <paramref name="allowGets"/> false fetches every chunk by gRPC;
    /// <paramref name="requestTimeout"/> bounds each request (default <see cref="RequestTimeout"/>).
    /// </summary>
    public HttpChunkTransfer(ServerTrust trust, GrpcChunkTransfer grpc, int minHttpChunkBytes = MinHttpChunkBytes, bool allowGets = true, TimeSpan? requestTimeout = null)
    {
        _allowGets = allowGets;
        _requestTimeout = requestTimeout ?? RequestTimeout;
        ArgumentNullException.ThrowIfNull(trust);
        _grpc = grpc;
        _minHttpChunkBytes = minHttpChunkBytes;
        _http = new HttpClient(trust.Apply(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = ConnectionsPerNode,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
            AutomaticDecompression = DecompressionMethods.None,
            AllowAutoRedirect = false,
            UseCookies = false,
            MaxResponseHeadersLength = 64,

            // A body nobody reads (a put's answer) is not drained for long: the connection is closed instead.
            MaxResponseDrainSize = MaxErrorBody,
        }))
        {
            DefaultRequestVersion = HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    /// <inheritdoc />
    public Task PutChunksAsync(string grpcUrl, IReadOnlyList<OutgoingChunk> chunks, CancellationToken ct) => _grpc.PutChunksAsync(grpcUrl, chunks, ct);

    /// <inheritdoc />
    public Task<IReadOnlyList<IncomingChunk>> GetChunksAsync(string grpcUrl, IReadOnlyList<ChunkId> ids, string token, CancellationToken ct) =>
        _grpc.GetChunksAsync(grpcUrl, ids, token, ct);

    /// <inheritdoc />
    public async Task PutChunksAsync(ChunkLocation node, IReadOnlyList<OutgoingChunk> chunks, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(chunks);
        var bytes = 0L;
        foreach (var chunk in chunks)
        {
            bytes += chunk.Stored.Length;
        }

        if (chunks.Count == 0 || bytes < (long)_minHttpChunkBytes * chunks.Count || chunks.Any(c => c.Token.Length > MaxUrlTokenChars) || HttpBase(node) is not { } baseUrl || IsUnreachable(baseUrl))
        {
            await _grpc.PutChunksAsync(node.GrpcUrl, chunks, ct).ConfigureAwait(false);
            return;
        }

        try
        {
            await ForEachAsync(chunks.Count, i => BoundedAsync(c => PutOneAsync(baseUrl, chunks[i], c), $"Uploading chunk {chunks[i].Id.ToShortString()} to {baseUrl}", ct), ct).ConfigureAwait(false);
        }
        catch (DropboxException e) when (e.Details.ContainsKey(LinkFailed))
        {
            // The node's presigned port does not answer HTTP/1.1 (a firewall, a proxy, an older node): gRPC instead.
            // Chunks that did arrive are put again, which the node answers alike.
            MarkUnreachable(baseUrl);
            await _grpc.PutChunksAsync(node.GrpcUrl, chunks, ct).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<IncomingChunk>> GetChunksAsync(ChunkLocation node, IReadOnlyList<ChunkId> ids, string token, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(ids);
        // Several chunks in one call go as one gRPC stream: measured, a request per small chunk costs ~6x a
        // batched stream's per-chunk work, and a caller that batches ids is fetching small chunks. Callers
        // fetching big chunks ask for one at a time (several calls at once), which is where HTTP is cheapest.
        if (!_allowGets || ids.Count != 1 || HttpBase(node) is not { } baseUrl || token.Length > MaxUrlTokenChars || IsUnreachable(baseUrl))
        {
            return await _grpc.GetChunksAsync(node.GrpcUrl, ids, token, ct).ConfigureAwait(false);
        }

        var result = new IncomingChunk?[ids.Count];
        try
        {
            await ForEachAsync(ids.Count, i => BoundedAsync(async c => result[i] = await GetOneAsync(baseUrl, ids[i], token, c).ConfigureAwait(false), $"Downloading chunk {ids[i].ToShortString()} from {baseUrl}", ct), ct).ConfigureAwait(false);
            var done = result.Select(c => c!).ToArray();
            Array.Clear(result);
            return done;
        }
        catch (DropboxException e) when (e.Details.ContainsKey(LinkFailed))
        {
            MarkUnreachable(baseUrl);
            return await _grpc.GetChunksAsync(node.GrpcUrl, ids, token, ct).ConfigureAwait(false);
        }
        finally
        {
            // Only on failure is anything left here: give every pooled buffer back.
            foreach (var chunk in result)
            {
                chunk?.Dispose();
            }
        }
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    private void MarkUnreachable(string baseUrl) => _unreachable[baseUrl] = Environment.TickCount64 + (long)LinkRetryAfter.TotalMilliseconds;

    private bool IsUnreachable(string baseUrl)
    {
        if (!_unreachable.TryGetValue(baseUrl, out var until))
        {
            return false;
        }

        if (Environment.TickCount64 < until)
        {
            return true;
        }

        _unreachable.TryRemove(new KeyValuePair<string, long>(baseUrl, until));
        return false;
    }

    /// <summary>
    /// The node's presigned-link base URL, or null when it must not (or cannot) be used: missing or not http(s), or
    /// plaintext while the node's gRPC URL is https (the link must not be a weaker channel than the one it replaces).
    /// </summary>
    internal static string? HttpBase(ChunkLocation node)
    {
        if (string.IsNullOrEmpty(node.HttpUrl) || node.HttpUrl.Length > 2048
            || !Uri.TryCreate(node.HttpUrl, UriKind.Absolute, out var http) || http.Scheme is not ("http" or "https") || string.IsNullOrEmpty(http.Host)
            || !string.IsNullOrEmpty(http.Query) || !string.IsNullOrEmpty(http.Fragment) || !string.IsNullOrEmpty(http.UserInfo))
        {
            return null;
        }

        var grpcTls = Uri.TryCreate(node.GrpcUrl, UriKind.Absolute, out var grpc) && grpc.Scheme == Uri.UriSchemeHttps;
        return grpcTls && http.Scheme != Uri.UriSchemeHttps ? null : node.HttpUrl.TrimEnd('/');
    }

    private static async Task ForEachAsync(int count, Func<int, Task> body, CancellationToken ct)
    {
        if (count == 1)
        {
            await body(0).ConfigureAwait(false);
            return;
        }

        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = RequestsPerCall, CancellationToken = ct }, async (i, _) => await body(i).ConfigureAwait(false))
            .ConfigureAwait(false);
    }

    private static Uri ChunkUri(string baseUrl, ChunkId id, string token) =>
        new($"{baseUrl}/chunks/{id}?token={Uri.EscapeDataString(token)}", UriKind.Absolute);

    private async Task PutOneAsync(string baseUrl, OutgoingChunk chunk, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, ChunkUri(baseUrl, chunk.Id, chunk.Token))
        {
            Content = new ReadOnlyMemoryContent(chunk.Stored),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        if (chunk.Encoding == ChunkEncoding.Lz4)
        {
            request.Headers.Add("X-Chunk-Encoding", "lz4");
            request.Headers.Add("X-Plain-Size", chunk.PlainSize.ToString(CultureInfo.InvariantCulture));
        }
        else if (chunk.Encoding != ChunkEncoding.Raw)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"Chunk {chunk.Id.ToShortString()} has encoding {chunk.Encoding}, which a presigned put cannot carry.");
        }

        var what = $"Uploading chunk {chunk.Id.ToShortString()} to {baseUrl}";

        // Headers first: the answer's body is read only up to MaxErrorBody (a hostile node's endless answer is not
        // buffered).
        using var response = await SendAsync(request, what, ct).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Created)
        {
            throw await FailureAsync(what, response, ct).ConfigureAwait(false);
        }

        // A node's "stored" answer is a few bytes: read it (bounded, as an error's) so the connection goes back to the
        // pool for the next chunk instead of being closed with its body unread.
        _ = await ReadSmallBodyAsync(response, ct).ConfigureAwait(false);
    }

    /// <summary>Runs one request under <see cref="_requestTimeout"/>; running out of it is a failed (Unavailable) request.</summary>
    private async Task BoundedAsync(Func<CancellationToken, Task> request, string what, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_requestTimeout);
        try
        {
            await request(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested && timeout.IsCancellationRequested)
        {
            throw new DropboxException(ErrorKind.Unavailable, $"{what}: the node did not finish within {_requestTimeout.TotalSeconds:0} s; try again later.", e);
        }
    }

    private async Task<IncomingChunk> GetOneAsync(string baseUrl, ChunkId id, string token, CancellationToken outer)
    {
        // A node that hangs (rather than failing) gives up its turn after a stall, not the whole request's timeout.
        using var stall = new StallWatch(outer);
        try
        {
            return await GetOneCoreAsync(baseUrl, id, token, stall).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (stall.Stalled)
        {
            throw StallWatch.Error($"Downloading chunk {id.ToShortString()} from {baseUrl}", e);
        }
    }

    private async Task<IncomingChunk> GetOneCoreAsync(string baseUrl, ChunkId id, string token, StallWatch stall)
    {
        var ct = stall.Token;
        using var request = new HttpRequestMessage(HttpMethod.Get, ChunkUri(baseUrl, id, token));
        request.Headers.Add(ChunkHttpHeaders.AcceptEncoding, "lz4");
        var what = $"Downloading chunk {id.ToShortString()} from {baseUrl}";
        using var response = await SendAsync(request, what, ct).ConfigureAwait(false);
        stall.Progress();
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw await FailureAsync(what, response, ct).ConfigureAwait(false);
        }

        var length = response.Content.Headers.ContentLength;
        if (length is not { } stored || stored < 0 || stored > GrpcChunkTransfer.MaxStoredChunkBytes)
        {
            throw new DropboxException(ErrorKind.DataLoss, $"{what}: the node announced a body of {(length is null ? "unknown" : length.Value.ToString(CultureInfo.InvariantCulture))} bytes; chunks are at most {GrpcChunkTransfer.MaxStoredChunkBytes} and must say their length.");
        }

        var encoding = ChunkEncoding.Raw;
        var plainSize = (int)stored;
        if (response.Headers.TryGetValues(ChunkHttpHeaders.Encoding, out var encodings))
        {
            var name = string.Join(',', encodings);
            if (name.Equals("lz4", StringComparison.OrdinalIgnoreCase))
            {
                encoding = ChunkEncoding.Lz4;
                if (!response.Headers.TryGetValues(ChunkHttpHeaders.PlainSize, out var sizes)
                    || !int.TryParse(string.Join(',', sizes), NumberStyles.None, CultureInfo.InvariantCulture, out plainSize)
                    || plainSize > GrpcChunkTransfer.MaxStoredChunkBytes)
                {
                    throw new DropboxException(ErrorKind.DataLoss, $"{what}: the node sent an LZ4 chunk without a plain size of at most {GrpcChunkTransfer.MaxStoredChunkBytes} bytes.");
                }
            }
            else if (!name.Equals("raw", StringComparison.OrdinalIgnoreCase))
            {
                throw new DropboxException(ErrorKind.DataLoss, $"{what}: the node sent unknown encoding '{SyncPaths.Display(name, 40)}'.");
            }
        }

        var buffer = ChunkBuffer.Rent((int)stored);
        try
        {
            var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                var filled = 0;
                while (filled < buffer.Length)
                {
                    var n = await stream.ReadAsync(buffer.Memory[filled..], ct).ConfigureAwait(false);
                    stall.Progress();
                    if (n == 0)
                    {
                        throw new DropboxException(ErrorKind.DataLoss, $"{what}: the node sent {filled} of {buffer.Length} bytes.");
                    }

                    filled += n;
                }
            }

            var chunk = new IncomingChunk(id, encoding, plainSize, buffer);
            buffer = null;
            return chunk;
        }
        catch (HttpRequestException e)
        {
            throw new DropboxException(ErrorKind.Unavailable, $"{what}: the connection failed ({SyncPaths.Display(e.Message, RemoteErrors.MaxDetail)}).", e);
        }
        catch (IOException e)
        {
            throw new DropboxException(ErrorKind.Unavailable, $"{what}: the connection failed ({SyncPaths.Display(e.Message, RemoteErrors.MaxDetail)}).", e);
        }
        finally
        {
            buffer?.Dispose();
        }
    }

    /// <summary>Sends and returns once the headers are in: no body is buffered here (the caller reads what it needs, bounded).</summary>
    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, string what, CancellationToken ct)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            // A refused server certificate: the trust check's own message sits inside the exception chain.
            for (Exception? inner = e; inner is not null; inner = inner.InnerException)
            {
                if (inner is DropboxException refused)
                {
                    throw new DropboxException(refused.Kind, $"{what}: {refused.Message}", e);
                }
            }

            var failed = new DropboxException(ErrorKind.Unavailable, $"{what}: the node is not reachable ({SyncPaths.Display(e.Message, RemoteErrors.MaxDetail)}). Check that it is running and the URL is right.", e);
            failed.Details[LinkFailed] = "true";
            throw failed;
        }

        if (!response.Headers.TryGetValues(ChunkHttpHeaders.Api, out var api) || !api.Contains(ChunkHttpHeaders.ApiVersion, StringComparer.Ordinal))
        {
            // Not a chunk endpoint's answer (an HTTP/2-only port, a proxy, an older node): the caller goes by gRPC.
            var status = (int)response.StatusCode;
            response.Dispose();
            var failed = new DropboxException(ErrorKind.Unavailable, $"{what}: the presigned link answered HTTP {status} without the chunk API's mark.");
            failed.Details[LinkFailed] = "true";
            throw failed;
        }

        return response;
    }

    private static async Task<DropboxException> FailureAsync(string what, HttpResponseMessage response, CancellationToken ct)
    {
        var status = (int)response.StatusCode;
        var detail = await ReadSmallBodyAsync(response, ct).ConfigureAwait(false);
        return new DropboxException(GrpcErrorMapping.FromHttpStatus(status), $"{what}: HTTP {status} {SyncPaths.Display(detail, RemoteErrors.MaxDetail)}");
    }

    /// <summary>
    /// The answer's text, read only up to <see cref="MaxErrorBody"/> bytes (a hostile node's endless body is not
    /// buffered); empty when it cannot be read. Reading a short body to its end lets the connection be used again.
    /// </summary>
    private static async Task<string> ReadSmallBodyAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            var buffer = new byte[MaxErrorBody];
            var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                var filled = 0;
                int n;
                while (filled < buffer.Length && (n = await stream.ReadAsync(buffer.AsMemory(filled), ct).ConfigureAwait(false)) > 0)
                {
                    filled += n;
                }

                return System.Text.Encoding.UTF8.GetString(buffer, 0, filled).Trim();
            }
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            return string.Empty;
        }
    }
}
