using System.Text;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Domain;

/// <summary>A validated upload or commit: a normalized path and a bounded, size-consistent chunk list.</summary>
internal sealed record FileUpload(string Path, ulong Size, long MtimeUnixMs, IReadOnlyList<ChunkRef> Chunks, ulong BaseVersion, string Device)
{
    /// <summary>Most node ids a plan may ask to avoid.</summary>
    public const int MaxAvoidNodes = 16;

    /// <summary>Storage nodes that refused the client's puts as full: placement leaves them out if any other node can take the chunks.</summary>
    public IReadOnlyList<string> AvoidNodes { get; init; } = [];

    /// <summary>The file's owner-executable bit (a commit that changes only it is a new version).</summary>
    public bool Executable { get; init; }

    /// <summary>Validates a plan's avoid list (at most <see cref="MaxAvoidNodes"/> well-formed node ids).</summary>
    public static IReadOnlyList<string> ValidAvoidNodes(IReadOnlyList<string> nodes)
    {
        if (nodes.Count > MaxAvoidNodes)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"avoid_nodes names {nodes.Count} nodes; at most {MaxAvoidNodes}.");
        }

        return nodes.Select(NodeRegistry.ValidNodeId).ToList();
    }

    /// <summary>
    /// Validates a request's input (the path, the time, the chunk count, each chunk's encoding and sizes as <paramref name="chunks"/>
    /// yields it, their sum, the device name, in that order); anything malformed is InvalidArgument with a message saying
    /// what, too many chunks ResourceExhausted. The services hand over a request's chunks as a list that parses each wire
    /// reference when it is read, so a malformed one is reported in this same order.
    /// </summary>
    public static FileUpload Create(string? path, ulong size, long mtimeUnixMs, IReadOnlyList<ChunkRef> chunks, ulong baseVersion, string? device)
    {
        var normalized = PathGuard.Normalize(path);
        if (mtimeUnixMs is < Limits.MinMtimeUnixMs or > Limits.MaxMtimeUnixMs)
        {
            // Every client of the account turns this into a date: one out of range aborted them all on every pass.
            throw new DropboxException(ErrorKind.InvalidArgument, $"mtime_unix_ms {mtimeUnixMs} is out of range: a modification time is between {Limits.MinMtimeUnixMs} (year 1) and {Limits.MaxMtimeUnixMs} (year 9999) ms since 1970.");
        }

        if (chunks.Count > Limits.MaxChunksPerFile)
        {
            throw new DropboxException(ErrorKind.ResourceExhausted, $"Too many chunks: {chunks.Count}; the limit is MaxChunksPerFile = {Limits.MaxChunksPerFile} per file. Use larger chunks.");
        }

        var list = new ChunkRef[chunks.Count];
        ulong sum = 0;
        for (var i = 0; i < chunks.Count; i++)
        {
            list[i] = ValidChunk(chunks[i], i);
            sum += (ulong)list[i].Size;
        }

        if (sum != size)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"Size mismatch: the file is said to be {size} bytes but its chunks add up to {sum}.");
        }

        device ??= string.Empty;
        if (Encoding.UTF8.GetByteCount(device) > Limits.MaxDeviceBytes)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"The device name is longer than {Limits.MaxDeviceBytes} bytes.");
        }

        return new FileUpload(normalized, size, mtimeUnixMs, list, baseVersion, device);
    }

    /// <summary>
    /// Checks chunk #<paramref name="index"/> of a request: a defined encoding (Raw or Lz4), plain and stored size 1 to
    /// <see cref="Limits.MaxChunkSize"/>. The wire mapping checks the encoding too; this keeps the domain self-checking
    /// for a caller that builds its <see cref="ChunkRef"/>s some other way.
    /// </summary>
    internal static ChunkRef ValidChunk(ChunkRef chunk, int index)
    {
        if (chunk.Encoding is not (ChunkEncoding.Raw or ChunkEncoding.Lz4))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"Chunk #{index} ({chunk.Id.ToShortString()}) has unknown encoding {(int)chunk.Encoding}; it must be Raw or Lz4.");
        }

        if (chunk.Size <= 0 || chunk.Size > Limits.MaxChunkSize)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"Chunk #{index} ({chunk.Id.ToShortString()}) has size {chunk.Size}; a chunk is 1 to {Limits.MaxChunkSize} bytes.");
        }

        if (chunk.StoredSize <= 0 || chunk.StoredSize > Limits.MaxChunkSize)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"Chunk #{index} ({chunk.Id.ToShortString()}) has stored size {chunk.StoredSize}; it must be 1 to {Limits.MaxChunkSize} bytes.");
        }

        return chunk;
    }
}
