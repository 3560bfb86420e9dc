using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// What <c>nodes forget</c> did: how many chunk records listed the node, and the referenced chunks (and the file versions
/// naming them) left with no copy anywhere, so the operator knows what became unreadable. The lists are capped at
/// <see cref="NodeForgetter.MaxListed"/>; <paramref name="Truncated"/> says more were lost.
/// </summary>
internal sealed record ForgottenNode(string NodeId, long LocationsCleared, long ChunksLost, IReadOnlyList<ChunkId> LostChunks, IReadOnlyList<LostFileVersion> LostFiles, bool Truncated);
