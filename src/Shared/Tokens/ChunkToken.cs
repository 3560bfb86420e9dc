using Dropbox.Shared.Chunks;

namespace Dropbox.Shared.Tokens;

/// <summary>
/// What a signed token grants: one operation, in one namespace, on one node, for some chunks, until a time.
/// An empty chunk list on a <see cref="TokenOperation.System"/> token means "any chunk".
/// </summary>
public sealed record ChunkToken(
    TokenOperation Operation,
    string Namespace,
    string NodeId,
    IReadOnlyList<ChunkId> ChunkIds,
    DateTimeOffset Expires)
{
    /// <summary>True if the token names this chunk (or is a system token over all chunks).</summary>
    public bool Covers(ChunkId id)
    {
        if (Operation == TokenOperation.System && ChunkIds.Count == 0)
        {
            return true;
        }

        for (var i = 0; i < ChunkIds.Count; i++)
        {
            if (ChunkIds[i] == id)
            {
                return true;
            }
        }

        return false;
    }
}
