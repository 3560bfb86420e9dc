using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain.Replication;

/// <summary>
/// Decides, for one chunk record, which copies bring it back to the replication factor: a pure function of the record,
/// the node states and the factor. Targets are the healthy nodes not holding it, in rendezvous order (where placement
/// would have put it); the source is a live holder, healthy ones first, best placement score first.
/// </summary>
internal static class ReplicationPlanner
{
    /// <summary>Why a chunk needs no copy, or why it cannot get one.</summary>
    public enum Verdict
    {
        /// <summary>Enough healthy copies (or as many as there are healthy nodes).</summary>
        Enough,

        /// <summary>Copies were planned.</summary>
        Copies,

        /// <summary>Below the factor, but no live node holds it: nothing to copy from until one comes back.</summary>
        NoSource,
    }

    /// <summary>Healthy copies of a stored chunk.</summary>
    public static int HealthyCopies(ChunkRecord record, NodeStates nodes)
    {
        var copies = 0;
        foreach (var location in record.Locations)
        {
            if (nodes.IsHealthy(location))
            {
                copies++;
            }
        }

        return copies;
    }

    /// <summary>Whether a record counts as stored and below <paramref name="factor"/> healthy copies.</summary>
    public static bool IsUnderReplicated(ChunkRecord record, NodeStates nodes, int factor) =>
        record.State == ChunkState.Stored && HealthyCopies(record, nodes) < factor;

    /// <summary>Adds to <paramref name="copies"/> what brings <paramref name="id"/> back to <paramref name="factor"/> healthy copies.</summary>
    public static Verdict Plan(ChunkId id, ChunkRecord record, NodeStates nodes, int factor, List<ReplicaCopy> copies)
    {
        if (record.State != ChunkState.Stored)
        {
            return Verdict.Enough;
        }

        var have = HealthyCopies(record, nodes);
        var candidates = nodes.Healthy.Where(n => !record.Locations.Contains(n.NodeId)).ToList();
        var need = Math.Min(factor - have, candidates.Count);
        if (need <= 0)
        {
            return Verdict.Enough;
        }

        NodeRecord? source = null;
        var bestHealthy = false;
        ulong bestScore = 0;
        foreach (var location in record.Locations)
        {
            if (nodes.Live(location) is not { } node)
            {
                continue;
            }

            var healthy = nodes.IsHealthy(node);
            var score = Placement.Score(node.NodeId, id);
            if (source is null || (healthy && !bestHealthy) || (healthy == bestHealthy && score > bestScore))
            {
                (source, bestHealthy, bestScore) = (node, healthy, score);
            }
        }

        if (source is null)
        {
            return Verdict.NoSource;
        }

        foreach (var target in Placement.Choose(candidates, id, need))
        {
            copies.Add(new ReplicaCopy(id, record.StoredSize > 0 ? record.StoredSize : record.Size, source, target));
        }

        return Verdict.Copies;
    }
}
