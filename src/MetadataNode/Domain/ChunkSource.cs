using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain;

/// <summary>Where to fetch one chunk of a download plan: every registered node holding it, preferred first, with a get token each.</summary>
/// <param name="Chunk">The chunk, as the version names it.</param>
/// <param name="Holders">Nodes holding it: live first, in placement order.</param>
/// <param name="Tokens">A get token per holder, same order.</param>
internal sealed record ChunkSource(ChunkRef Chunk, IReadOnlyList<NodeAddress> Holders, IReadOnlyList<string> Tokens);
