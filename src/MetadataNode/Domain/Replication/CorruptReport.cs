using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain.Replication;

/// <summary>What a storage node's report of corrupt (quarantined) chunks changed.</summary>
/// <param name="Repairable">Chunks the node was a holder of that another node still holds: re-replication copies them back.</param>
/// <param name="Lost">Referenced chunks no holder is left of: the versions naming them are damaged.</param>
internal sealed record CorruptReport(int Repairable, IReadOnlyList<ChunkId> Lost);
