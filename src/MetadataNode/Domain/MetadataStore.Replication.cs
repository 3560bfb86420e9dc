using Dropbox.MetadataNode.Domain.Replication;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// The store's few entry points for re-replication and drain (the logic lives in <see cref="Replication"/>): node states,
/// a read-only scan of chunk records, the drain flag. Kept apart so it can be re-hooked when the store is split.
/// </summary>
internal sealed partial class MetadataStore
{
    /// <summary>Every registered node with its state now (live, dead, draining).</summary>
    public NodeStates NodeStates() => new(_nodeRegistry.All(), _clock.GetUtcNow().ToUnixTimeMilliseconds(), (long)_options.NodeTimeout.TotalMilliseconds);

    /// <summary>Nodes new chunks may go to (see <see cref="NodeRegistry.PlacementNodes"/>).</summary>
    internal List<NodeRecord> PlacementNodes() => _nodeRegistry.PlacementNodes();

    /// <summary>Visits every chunk record (a snapshot read) until <paramref name="visitor"/> returns false.</summary>
    public void VisitChunkRecords(Func<ChunkId, ChunkRecord, bool> visitor)
    {
        _engine.Visit(_engine.Chunks, [], [], (key, value) => key.Length != ChunkId.Size || visitor(new ChunkId(key), ChunkRecord.Parser.ParseFrom(value)));
    }

    /// <summary>Marks a node draining (or no longer); NotFound for a node never registered.</summary>
    public NodeRecord SetDraining(string nodeId, bool draining) => _nodeRegistry.SetDraining(nodeId, draining);

    /// <inheritdoc cref="NodeForgetter.Forget"/>
    public ForgottenNode ForgetNode(string nodeId, bool force, bool live) => _forgetter.Forget(nodeId, force, live);
}
