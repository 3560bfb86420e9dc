using System.Globalization;
using Dropbox.MetadataNode.Storage.Records;

namespace Dropbox.MetadataNode.Domain.Replication;

/// <summary>
/// What <c>nodes list</c> shows, from one scan of the chunk records: per node, the chunks recorded on it and how many of
/// them are below the replication factor on healthy nodes; in all, the under-replicated count.
/// </summary>
internal sealed class NodeReport
{
    private readonly HashSet<string> _putsOutstanding;
    private readonly HashSet<string> _uncommitted;

    private NodeReport(NodeStates states, Dictionary<string, (long Chunks, long Under)> perNode, long underReplicated, HashSet<string> putsOutstanding, HashSet<string> uncommitted)
    {
        _putsOutstanding = putsOutstanding;
        _uncommitted = uncommitted;
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
        var uncommitted = new HashSet<string>(StringComparer.Ordinal);
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
                    uncommitted.Add(location);
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
        return new NodeReport(states, perNode, under, putsOutstanding, uncommitted);
    }

    /// <summary>The state word and counts of one node.</summary>
    public (string State, long Chunks, long Under) Of(StorageNodeInfo node)
    {
        var (chunks, underOnNode) = PerNode.TryGetValue(node.NodeId, out var c) ? c : (0, 0);
        return (States.StateOf(node, underOnNode, Waits(node)), chunks, underOnNode);
    }

    private bool Waits(StorageNodeInfo node) => _putsOutstanding.Contains(node.NodeId) || _uncommitted.Contains(node.NodeId);

    /// <summary>
    /// Why the node is in its state, for <c>nodes list</c>: since when a dead node is silent, what a draining node still
    /// waits for (chunks to copy, put tokens, among them the restart fence's, with its end, uploads no file names yet),
    /// a full node. <paramref name="restartFenceUntil"/> is <see cref="NodeRegistry.RestartFenceUntil"/>.
    /// </summary>
    public string ReasonOf(StorageNodeInfo node, DateTimeOffset? restartFenceUntil)
    {
        var (state, _, under) = Of(node);
        var full = node.Full ? "; full: it refuses new chunks" : "";
        switch (state)
        {
            case "forgetting":
                return "a 'nodes forget' of it is running: it takes no new copies and its copies no longer count";
            case "dead":
                var silent = TimeSpan.FromMilliseconds(Math.Max(0, States.NowMs - node.LastHeartbeatUnixMs));
                return string.Create(CultureInfo.InvariantCulture, $"no heartbeat since {DateTimeOffset.FromUnixTimeMilliseconds(node.LastHeartbeatUnixMs):u} ({silent.TotalSeconds:0} s; dead after {States.TimeoutMs / 1000} s without one){(node.Draining ? "; draining" : "")}");
            case "draining":
                var waits = new List<string>();
                if (under > 0)
                {
                    waits.Add(string.Create(CultureInfo.InvariantCulture, $"{under} chunk(s) on it to copy to other nodes"));
                }

                if (restartFenceUntil is { } fence)
                {
                    waits.Add($"put tokens handed out before the metadata node restarted, usable until {fence:u}");
                }
                else if (_putsOutstanding.Contains(node.NodeId))
                {
                    waits.Add("put tokens naming it, still usable (at most the token lifetime)");
                }

                if (_uncommitted.Contains(node.NodeId))
                {
                    waits.Add("uploaded chunks no file names yet whose only copy is there (until a commit or the collector settles them)");
                }

                return "draining; waits for " + (waits.Count > 0 ? string.Join(", ", waits) : "the next look") + full;
            case "drained":
                return "drained: every chunk it holds has enough copies elsewhere; it may be removed (then 'nodes forget')" + full;
            default:
                return node.Full ? "full: it refuses new chunks until it has space again" : "";
        }
    }
}
