using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain.Replication;

/// <summary>What a source node answered to a push order.</summary>
/// <param name="Pushed">Ids the target acknowledged as durable.</param>
/// <param name="Unreadable">Ids the source could not read (not held, or failed its hash there): copy them from another holder.</param>
internal sealed record PushOutcome(IReadOnlyList<ChunkId> Pushed, IReadOnlyList<ChunkId> Unreadable);
