using System.Buffers;
using System.Globalization;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Tokens;
using Dropbox.StorageNode.Store;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Net.Http.Headers;

namespace Dropbox.StorageNode.Services;

/// <summary>
/// Plain HTTP presigned links: <c>GET/PUT /chunks/{id}?token=…</c> for curl and browsers, and <c>/healthz</c>.
/// GET always serves plain bytes; PUT takes plain bytes, or one LZ4 block with <c>X-Chunk-Encoding: lz4</c> and
/// <c>X-Plain-Size</c>. A GET with <c>X-Accept-Chunk-Encoding: lz4</c> gets an LZ4-stored chunk as stored, marked
/// by the same two headers (the sync client's path: it decodes and re-hashes itself). Chunk responses are immutable (<c>ETag</c> is the chunk id) and private: a shared cache
/// must not go on serving them once the token has expired.
/// </summary>
public static class ChunkHttpEndpoints
{
    /// <summary>Cache policy for chunk bodies: content-addressed, so they never change; private, as each is behind a token.</summary>
    public const string ImmutableCacheControl = "private, max-age=31536000, immutable";

    private static readonly byte[] StoredBody = "stored\n"u8.ToArray();

    /// <summary>Maps the endpoints.</summary>
    public static IEndpointRouteBuilder MapChunkHttp(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/healthz", (ChunkStore store) => Results.Text($"ok {store.NodeId}\n"));
        endpoints.MapGet("/chunks/{id}", GetAsync);
        endpoints.MapPut("/chunks/{id}", PutAsync);
        return endpoints;
    }

    private static async Task GetAsync(HttpContext http, string id, ChunkStore store, ChunkTokenService tokens)
    {
        await RunAsync(http, async () =>
        {
            var chunkId = ParseId(id);
            tokens.Validate(http.Request.Query["token"], TokenOperation.Get, store.NodeId.Value, chunkId);
            var etag = $"\"{chunkId}\"";
            http.Response.Headers.ETag = etag;
            http.Response.Headers.CacheControl = ImmutableCacheControl;
            if (http.Request.Headers.IfNoneMatch.Any(v => v is not null && v.Contains(chunkId.ToString(), StringComparison.OrdinalIgnoreCase)))
            {
                http.Response.StatusCode = StatusCodes.Status304NotModified;
                return;
            }

            using var chunk = await store.ReadAsync(chunkId, http.RequestAborted).ConfigureAwait(false);
            byte[]? plain = null;
            try
            {
                var data = chunk.Data;
                http.Response.Headers.Vary = ChunkHttpHeaders.AcceptEncoding;
                if (chunk.Encoding == ChunkEncoding.Lz4 && AcceptsLz4(http.Request))
                {
                    // The sync client decodes (and re-hashes) itself: the stored bytes go out as they rest on disk.
                    http.Response.Headers[ChunkHttpHeaders.Encoding] = "lz4";
                    http.Response.Headers[ChunkHttpHeaders.PlainSize] = chunk.PlainLength.ToString(CultureInfo.InvariantCulture);
                }
                else if (chunk.Encoding != ChunkEncoding.Raw)
                {
                    plain = ArrayPool<byte>.Shared.Rent(Math.Max(1, chunk.PlainLength));
                    ChunkCodec.Decode(chunk.Encoding, data.Span, plain.AsSpan(0, chunk.PlainLength));
                    data = plain.AsMemory(0, chunk.PlainLength);
                }

                http.Response.StatusCode = StatusCodes.Status200OK;
                http.Response.ContentType = "application/octet-stream";
                http.Response.ContentLength = data.Length;
                await http.Response.Body.WriteAsync(data, http.RequestAborted).ConfigureAwait(false);
            }
            finally
            {
                if (plain is not null)
                {
                    ArrayPool<byte>.Shared.Return(plain);
                }
            }
        }).ConfigureAwait(false);
    }

    private static async Task PutAsync(HttpContext http, string id, ChunkStore store, ChunkTokenService tokens)
    {
        await RunAsync(http, async () =>
        {
            var chunkId = ParseId(id);
            var token = tokens.Validate(http.Request.Query["token"], TokenOperation.Put, store.NodeId.Value, chunkId);
            var encoding = ChunkEncoding.Raw;
            var encodingHeader = http.Request.Headers[ChunkHttpHeaders.Encoding].ToString();
            if (encodingHeader.Length > 0 && !encodingHeader.Equals("raw", StringComparison.OrdinalIgnoreCase))
            {
                encoding = encodingHeader.Equals("lz4", StringComparison.OrdinalIgnoreCase)
                    ? ChunkEncoding.Lz4
                    : throw new DropboxException(ErrorKind.InvalidArgument, $"Unknown X-Chunk-Encoding '{encodingHeader}'; use raw or lz4.");
            }

            var limit = encoding == ChunkEncoding.Raw ? store.MaxChunkBytes : Dropbox.Shared.Compression.Lz4ChunkCodec.MaxEncodedLength(store.MaxChunkBytes);
            if (http.Request.ContentLength is { } declared && declared > limit)
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"The body is {declared} bytes; this node accepts chunks of at most {store.MaxChunkBytes} bytes.");
            }

            var plainSize = 0;
            if (encoding == ChunkEncoding.Lz4 && !int.TryParse(http.Request.Headers[ChunkHttpHeaders.PlainSize], NumberStyles.None, CultureInfo.InvariantCulture, out plainSize))
            {
                throw new DropboxException(ErrorKind.InvalidArgument, "An LZ4 body needs its plain size in the X-Plain-Size header.");
            }

            if (http.Request.ContentLength is { } exact)
            {
                await PutDeclaredAsync(http, chunkId, encoding, plainSize, (int)exact, token.Namespace, store).ConfigureAwait(false);
            }
            else
            {
                await PutStreamedAsync(http, chunkId, encoding, plainSize, limit, token.Namespace, store).ConfigureAwait(false);
            }

            // 201 "stored" whether or not the node held the chunk before: a put must not reveal what others store.
            http.Response.StatusCode = StatusCodes.Status201Created;
            http.Response.Headers.ETag = $"\"{chunkId}\"";
            http.Response.ContentLength = StoredBody.Length;
            await http.Response.Body.WriteAsync(StoredBody, http.RequestAborted).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// A body of a declared length (the sync client always declares one, and it is within the limit) is gathered whole in
    /// the connection's pipe and stored from there: hashed piece by piece, and copied once, by the engine, into its
    /// segment's staging buffer, with no chunk buffer in between (that copy was ~10% of the node's CPU in an upload).
    /// The pipe's buffers are released only after the store is done with them; it keeps no reference to them.
    /// Waiting for more than the transport's read-ahead limit (1 MiB) does not stall: a pipe holds its writer back by
    /// the bytes its reader has not yet examined, not by those it has not consumed, and each round of the read examines
    /// all it has. So the pipe holds at most the declared length plus that read-ahead, as the chunk buffer did.
    /// Kestrel refuses a body that ends early.
    /// </summary>
    private static async Task PutDeclaredAsync(HttpContext http, ChunkId chunkId, ChunkEncoding encoding, int plainSize, int length, string ns, ChunkStore store)
    {
        if (length == 0)
        {
            await store.PutAsync(chunkId, encoding, encoding == ChunkEncoding.Raw ? 0 : plainSize, ReadOnlySequence<byte>.Empty, ns, http.RequestAborted).ConfigureAwait(false);
            return;
        }

        var reader = http.Request.BodyReader;
        var read = await reader.ReadAtLeastAsync(length, http.RequestAborted).ConfigureAwait(false);
        try
        {
            var body = read.Buffer;
            if (body.Length < length)
            {
                // Kestrel throws on a body cut short; this is only a read cancelled from elsewhere.
                throw new DropboxException(ErrorKind.InvalidArgument, $"The body ended after {body.Length} of its {length} declared bytes; nothing was stored.");
            }

            body = body.Slice(0, length);
            await store.PutAsync(chunkId, encoding, encoding == ChunkEncoding.Raw ? length : plainSize, body, ns, http.RequestAborted).ConfigureAwait(false);
        }
        finally
        {
            reader.AdvanceTo(read.Buffer.End);
        }
    }

    /// <summary>
    /// A body without a declared length (chunked) is read into a pooled buffer up to the limit and one byte more, to
    /// tell an oversize body from a full one. (Kestrel already copies a chunked body, from the connection's pipe into one
    /// of the request's own as it decodes it, so gathering it in a pipe would save no copy; the sync client never sends one.)
    /// </summary>
    private static async Task PutStreamedAsync(HttpContext http, ChunkId chunkId, ChunkEncoding encoding, int plainSize, int limit, string ns, ChunkStore store)
    {
        var capacity = limit + 1;
        var buffer = ChunkBufferPool.Rent(capacity);
        try
        {
            var length = 0;
            while (length < capacity)
            {
                var n = await http.Request.Body.ReadAsync(buffer.AsMemory(length, capacity - length), http.RequestAborted).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                length += n;
            }

            if (length > limit)
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"The body is over {limit} bytes; this node accepts chunks of at most {store.MaxChunkBytes} bytes.");
            }

            await store.PutAsync(chunkId, encoding, encoding == ChunkEncoding.Raw ? length : plainSize, buffer.AsMemory(0, length), ns, http.RequestAborted).ConfigureAwait(false);
        }
        finally
        {
            ChunkBufferPool.Return(buffer);
        }
    }

    private static bool AcceptsLz4(HttpRequest request)
    {
        foreach (var value in request.Headers[ChunkHttpHeaders.AcceptEncoding])
        {
            if (value is not null && value.Contains("lz4", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static ChunkId ParseId(string id) =>
        ChunkId.TryParse(id, out var chunkId)
            ? chunkId
            : throw new DropboxException(ErrorKind.InvalidArgument, $"'{id}' is not a chunk id: use the 64 hex digits of the chunk's SHA-256.");

    private static async Task RunAsync(HttpContext http, Func<Task> action)
    {
        http.Response.Headers[ChunkHttpHeaders.Api] = ChunkHttpHeaders.ApiVersion;
        try
        {
            await action().ConfigureAwait(false);
        }
        catch (DropboxException ex) when (!http.Response.HasStarted)
        {
            http.Response.Headers.Remove(HeaderNames.CacheControl);
            http.Response.Headers.Remove(HeaderNames.ETag);
            http.Response.StatusCode = GrpcErrorMapping.ToHttpStatus(ex.Kind);
            http.Response.ContentType = "text/plain; charset=utf-8";
            await http.Response.WriteAsync(ex.Message + "\n", http.RequestAborted).ConfigureAwait(false);
        }
    }
}
