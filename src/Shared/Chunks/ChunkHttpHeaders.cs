namespace Dropbox.Shared.Chunks;

/// <summary>Header names of the storage nodes' presigned chunk links, shared by node and client.</summary>
public static class ChunkHttpHeaders
{
    /// <summary>How a body is encoded (<c>raw</c> or <c>lz4</c>): on a PUT request, and on a GET response.</summary>
    public const string Encoding = "X-Chunk-Encoding";

    /// <summary>The plain size of an LZ4 body, in bytes.</summary>
    public const string PlainSize = "X-Plain-Size";

    /// <summary>On a GET request: the client takes the chunk as stored when it is stored in this encoding (<c>lz4</c>).</summary>
    public const string AcceptEncoding = "X-Accept-Chunk-Encoding";
}
