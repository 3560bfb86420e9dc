using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// A validated window of a large file's chunks, planned while the client still reads the file (PlanChunks): a
/// normalized path, the whole file's size, the base the client edits, and at most <see cref="Limits.MaxChunksPerWindow"/>
/// well-formed chunks that add up to no more than the file, itself no larger than <see cref="Limits.MaxFileSize"/>.
/// </summary>
internal sealed record ChunkWindow(string Path, ulong Size, ulong BaseVersion, IReadOnlyList<ChunkRef> Chunks)
{
    /// <summary>Storage nodes the client found full or down: as <see cref="FileUpload.AvoidNodes"/>.</summary>
    public IReadOnlyList<string> AvoidNodes { get; init; } = [];

    /// <summary>
    /// Validates a request's input (path, chunk count, file size, each chunk as <paramref name="chunks"/> yields it, their
    /// sum, in that order); anything malformed is InvalidArgument, an oversize window ResourceExhausted. The services hand
    /// over a request's chunks as a list that parses each wire reference when it is read, so a malformed one is reported
    /// in this same order.
    /// </summary>
    public static ChunkWindow Create(string? path, ulong size, ulong baseVersion, IReadOnlyList<ChunkRef> chunks)
    {
        var normalized = PathGuard.Normalize(path);
        if (chunks.Count > Limits.MaxChunksPerWindow)
        {
            throw new DropboxException(ErrorKind.ResourceExhausted, $"Too many chunks in one window: {chunks.Count}; the limit is MaxChunksPerWindow = {Limits.MaxChunksPerWindow}. Plan a large file in several windows.");
        }

        if (size > Limits.MaxFileSize)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"File size {size} is over the largest a file can be: {Limits.MaxFileSize} bytes (MaxChunksPerFile = {Limits.MaxChunksPerFile} chunks of at most {Limits.MaxChunkSize} bytes).");
        }

        var list = new ChunkRef[chunks.Count];
        ulong sum = 0;
        for (var i = 0; i < chunks.Count; i++)
        {
            list[i] = FileUpload.ValidChunk(chunks[i], i);
            sum += (ulong)list[i].Size;
        }

        if (sum > size)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"Size mismatch: the file is said to be {size} bytes but this window's chunks alone add up to {sum}.");
        }

        return new ChunkWindow(normalized, size, baseVersion, list);
    }
}
