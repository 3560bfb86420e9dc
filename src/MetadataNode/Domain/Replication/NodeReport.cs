using Dropbox.MetadataNode.Storage.Records;

namespace Dropbox.MetadataNode.Domain.Replication;

/// <summary>
/// What <c>nodes list</c> shows, from one scan of the chunk records: per node, the chunks recorded on it and how many of
/// them are below the replication factor on healthy nodes; in all, the under-replicated count.
/// </summary>
internal sealed class NodeReport
{
    private readonly HashSet<string> _putsOutstanding;

    private NodeReport(NodeStates states, Dictionary<string, (long Chunks, long Under)> perNode, long underReplicated, HashSet<string> putsOutstanding)
    {
        _putsOutstanding = putsOutstanding;
        States = states;
        PerNode = perNode;
        UnderReplicated = underReplicated;
    }

    public NodeStates States { get; }

    public IReadOnlyDictionary<string, (long Chunks, long Under)> PerNode { get; }

    public long UnderReplicated { get; }

    /// <summary>Scans the store now.</summary>
    public static NodeReport Build(MetadataStore store) => Build(store, betweenSteps: null);

    /// <summary>
    /// Scans the store now. The outstanding puts are read before the chunk records: a put that lands in between is
    /// then still seen one way or the other (outstanding, or recorded on its node), never neither, so a draining node
    /// that is about to hold a copy is not reported "drained". <paramref name="betweenSteps"/> is a seam for tests.
    /// </summary>
    internal static NodeReport Build(MetadataStore store, Action? betweenSteps)
    {
        var states = store.NodeStates();
        var factor = store.ReplicationFactor;
        var putsOutstanding = states.All.Where(n => store.Nodes.HasOutstandingPuts(n.NodeId)).Select(n => n.NodeId).ToHashSet(StringComparer.Ordinal);
        betweenSteps?.Invoke();
        var perNode = states.All.ToDictionary(n => n.NodeId, _ => (Chunks: 0L, Under: 0L), StringComparer.Ordinal);
        long under = 0;
        store.VisitChunkRecords((_, record) =>
        {
            if (record.State != ChunkState.Stored)
            {
                return true;
            }

            if (record.Refcount == 0 && ReplicationPlanner.HealthyCopies(record, states) < factor)
            {
                // Uploaded, not committed yet: re-replication leaves it alone, but a commit may still name it and keep
                // the copy on a draining node as its only one. Such a node is not "drained" until the commit (then
                // re-replication copies it off) or the collector (after the grace period) settles the chunk.
                foreach (var location in record.Locations)
                {
                    putsOutstanding.Add(location);
                }
            }

            var isUnder = ReplicationPlanner.IsUnderReplicated(record, states, factor);
            if (isUnder)
            {
                under++;
            }

            foreach (var location in record.Locations)
            {
                perNode.TryGetValue(location, out var counts);
                perNode[location] = (counts.Chunks + 1, counts.Under + (isUnder ? 1 : 0));
            }

            return true;
        });
        return new NodeReport(states, perNode, under, putsOutstanding);
    }

    /// <summary>The state word and counts of one node.</summary>
    public (string State, long Chunks, long Under) Of(NodeRecord node)
    {
        var (chunks, underOnNode) = PerNode.TryGetValue(node.NodeId, out var c) ? c : (0, 0);
        return (States.StateOf(node, underOnNode, _putsOutstanding.Contains(node.NodeId)), chunks, underOnNode);
    }
}
