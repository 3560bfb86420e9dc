using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// The nodes one upload plan places puts on, read once per plan (<see cref="NodeRegistry.PlacementNodes"/>: live, not
/// draining, full or being forgotten), those of them the client asked to avoid, and how many copies a chunk is to have:
/// <see cref="Target"/>. Judges which of an account's own copies count toward it, and chooses the nodes of the puts.
/// </summary>
internal sealed class PlanNodes
{
    private readonly HashSet<string> _ids;
    private readonly int _replicationFactor;

    private PlanNodes(List<StorageNodeInfo> eligible, HashSet<string>? avoid, int replicationFactor)
    {
        Eligible = eligible;
        Avoid = avoid;
        _replicationFactor = replicationFactor;
        Target = Math.Min(replicationFactor, eligible.Count);
        _ids = new HashSet<string>(eligible.Count, StringComparer.Ordinal);
        foreach (var node in eligible)
        {
            _ids.Add(node.NodeId);
        }
    }

    /// <summary>The nodes a put may be placed on.</summary>
    public List<StorageNodeInfo> Eligible { get; }

    /// <summary>
    /// The nodes of <see cref="Eligible"/> the client asked to avoid (it found them full or slow before their heartbeats
    /// said so), or null. Placement ranks them last but still fills the target from them.
    /// </summary>
    public HashSet<string>? Avoid { get; }

    /// <summary>The copies a chunk is to have: the replication factor, or fewer when fewer nodes can take puts.</summary>
    public int Target { get; }

    /// <summary>
    /// Reads the nodes for one plan; a warning says so when avoiding the client's nodes leaves fewer others than the
    /// replication factor asks for.
    /// </summary>
    public static PlanNodes Read(NodeRegistry registry, IEnumerable<string> avoidNodes, int replicationFactor)
    {
        var eligible = registry.PlacementNodes();
        var avoid = avoidNodes.ToHashSet(StringComparer.Ordinal);
        avoid.IntersectWith(eligible.Select(n => n.NodeId));
        if (avoid.Count > 0)
        {
            registry.WarnIfAvoidingCostsCopies(eligible.Count - avoid.Count, avoid);
        }

        return new PlanNodes(eligible, avoid.Count > 0 ? avoid : null, Math.Max(1, replicationFactor));
    }

    /// <summary>
    /// True if an account's own copy on the node counts toward <see cref="Target"/>: a put could be placed there now, and
    /// the client did not ask to avoid it. An avoided node never counts, even when the client avoids every node a put
    /// could go to: it avoids a node its put just failed on, whose copy may have gone with it (counted, the plan answered
    /// "held" and the commit was acknowledged with the only copy there). Placement still ranks avoided nodes for puts.
    /// </summary>
    public bool Counts(string nodeId) => _ids.Contains(nodeId) && (Avoid is null || !Avoid.Contains(nodeId));

    /// <summary>
    /// The nodes for <paramref name="copies"/> puts of a chunk (the replication factor when null), best first by
    /// placement's ranking, none of them in <paramref name="besides"/> (the nodes whose copies are already counted).
    /// </summary>
    public List<StorageNodeInfo> Choose(ChunkId id, int? copies = null, IReadOnlyCollection<string>? besides = null)
    {
        if (besides is null)
        {
            return Placement.Choose(Eligible, id, copies ?? _replicationFactor, Avoid);
        }

        var others = Eligible.Where(n => !besides.Contains(n.NodeId)).ToList();
        return Placement.Choose(others, id, copies ?? _replicationFactor, Avoid);
    }
}
