namespace Dropbox.Shared.Chunks;

/// <summary>Header names of the storage nodes' presigned chunk links, shared by node and client.</summary>
public static class ChunkHttpHeaders
{
    /// <summary>How a body is encoded (<c>raw</c> or <c>lz4</c>): on a PUT request, and on a GET response.</summary>
    public const string Encoding = "X-Chunk-Encoding";

    /// <summary>The plain size of an LZ4 body, in bytes.</summary>
    public const string PlainSize = "X-Plain-Size";

    /// <summary>
    /// On every answer of a node's chunk endpoints (success or error), with value <see cref="ApiVersion"/>: an answer
    /// without it came from something else on that port (a proxy, an HTTP/2-only listener, an older node), and the
    /// sync client then reaches that node over gRPC instead.
    /// </summary>
    public const string Api = "X-Chunk-Api";

    /// <summary>The value of <see cref="Api"/>.</summary>
    public const string ApiVersion = "1";

    /// <summary>On a GET request: the client takes the chunk as stored when it is stored in this encoding (<c>lz4</c>).</summary>
    public const string AcceptEncoding = "X-Accept-Chunk-Encoding";
}
