using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.MetadataNode.Services.Mapping;

/// <summary>
/// A request's chunk list as domain <see cref="ChunkRef"/>s, parsed as the domain reads each one: a malformed id, encoding
/// or size field is InvalidArgument naming the chunk's index. Parsing on read (not all at once up front) keeps the
/// domain's order of checks: a bad path, time or chunk count is reported before any chunk is parsed, as it always was,
/// and a list over the count limit is refused without parsing it.
/// </summary>
internal sealed class WireChunks(IReadOnlyList<Proto.ChunkRef> wire) : IReadOnlyList<ChunkRef>
{
    /// <inheritdoc/>
    public int Count => wire.Count;

    /// <inheritdoc/>
    public ChunkRef this[int index] => Parse(wire[index], index);

    /// <inheritdoc/>
    public IEnumerator<ChunkRef> GetEnumerator()
    {
        for (var i = 0; i < wire.Count; i++)
        {
            yield return this[i];
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Chunk #<paramref name="index"/> of a request as a domain reference (well-formed id, known encoding, sizes in range of an int).</summary>
    public static ChunkRef Parse(Proto.ChunkRef chunk, int index)
    {
        try
        {
            return chunk.ToDomain();
        }
        catch (DropboxException ex)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"Chunk #{index}: {ex.Message}", ex);
        }
    }
}
