using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain.Replication;

/// <summary>
/// Decides, for one chunk record, which copies bring it back to the replication factor: a pure function of the record,
/// the node states and the factor. Targets are the healthy nodes not holding it, in rendezvous order (where placement
/// would have put it), full nodes left out; the source is a live holder, healthy ones first, best placement score first. A holder that just
/// answered it cannot read the chunk (<c>badSource</c>) is neither a source nor a counted copy, so the next plan copies
/// from another holder. A chunk no retained version references (refcount 0, awaiting GC) is never copied: a copy would
/// race the collector and leave an orphan.
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

    /// <summary>Healthy copies of a stored chunk (not counting holders <paramref name="badSource"/> names).</summary>
    public static int HealthyCopies(ChunkRecord record, NodeStates nodes, Func<string, bool>? badSource = null)
    {
        var copies = 0;
        foreach (var location in record.Locations)
        {
            if (nodes.IsHealthy(location) && badSource?.Invoke(location) != true)
            {
                copies++;
            }
        }

        return copies;
    }

    /// <summary>Whether a record is stored, referenced, and below <paramref name="factor"/> healthy copies.</summary>
    public static bool IsUnderReplicated(ChunkRecord record, NodeStates nodes, int factor, Func<string, bool>? badSource = null) =>
        NeedsCopies(record) && HealthyCopies(record, nodes, badSource) < factor;

    /// <summary>
    /// Adds to <paramref name="copies"/> what brings <paramref name="id"/> back to <paramref name="factor"/> healthy copies;
    /// <paramref name="badSource"/> names holders known unable to read it.
    /// </summary>
    public static Verdict Plan(ChunkId id, ChunkRecord record, NodeStates nodes, int factor, List<ReplicaCopy> copies, Func<string, bool>? badSource = null)
    {
        if (!NeedsCopies(record))
        {
            return Verdict.Enough;
        }

        var have = HealthyCopies(record, nodes, badSource);
        // A full node refuses every put: it is no target (its copies still count), as placement skips it for new chunks.
        // Nor is a node the collector still has to delete an earlier copy from: a copy put there would not count.
        var candidates = nodes.Healthy.Where(n => !n.Full && !record.Locations.Contains(n.NodeId) && !record.DeletingLocations.Contains(n.NodeId)).ToList();
        var need = Math.Min(factor - have, candidates.Count);
        if (need <= 0)
        {
            return Verdict.Enough;
        }

        StorageNodeInfo? source = null;
        var bestHealthy = false;
        ulong bestScore = 0;
        foreach (var location in record.Locations)
        {
            if (nodes.Live(location) is not { } node || badSource?.Invoke(location) == true)
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

    /// <summary>Stored and referenced: a chunk being deleted, or unreferenced and awaiting GC, gets no copy.</summary>
    private static bool NeedsCopies(ChunkRecord record) => record.State == ChunkState.Stored && record.Refcount > 0;
}
