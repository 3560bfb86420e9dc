namespace Dropbox.MetadataNode.Domain.Replication;

/// <summary>
/// The registered storage nodes at one moment: live (heartbeat within the timeout, <c>--node-dead-after</c>), dead
/// (silent longer), draining (an admin asked to move its chunks away), being forgotten (<c>nodes forget</c> runs). A copy
/// counts toward the replication factor only on a healthy node (live, not draining, not being forgotten: its reports are
/// refused and its copies are about to be dropped); any live node may serve as the source of a copy.
/// </summary>
internal sealed class NodeStates
{
    private readonly Dictionary<string, StorageNodeInfo> _byId;
    private readonly long _cutoffMs;

    private readonly Func<string, bool> _beingForgotten;

    public NodeStates(IReadOnlyList<StorageNodeInfo> nodes, long nowMs, long timeoutMs, Func<string, bool>? beingForgotten = null)
    {
        All = nodes;
        _cutoffMs = nowMs - timeoutMs;
        NowMs = nowMs;
        TimeoutMs = timeoutMs;
        var forgetting = nodes.Where(n => beingForgotten?.Invoke(n.NodeId) == true).Select(n => n.NodeId).ToHashSet(StringComparer.Ordinal);
        _beingForgotten = forgetting.Contains;
        _byId = nodes.ToDictionary(n => n.NodeId, StringComparer.Ordinal);
        Healthy = nodes.Where(IsHealthy).ToList();
    }

    /// <summary>Every registered node.</summary>
    public IReadOnlyList<StorageNodeInfo> All { get; }

    /// <summary>When the states were taken (Unix ms).</summary>
    public long NowMs { get; }

    /// <summary>How long a node may be silent before it counts as dead (ms).</summary>
    public long TimeoutMs { get; }

    /// <summary>Live, not draining and not being forgotten: where copies go and count.</summary>
    public IReadOnlyList<StorageNodeInfo> Healthy { get; }

    public bool IsLive(StorageNodeInfo node) => node.LastHeartbeatUnixMs >= _cutoffMs;

    public bool IsHealthy(StorageNodeInfo node) => IsLive(node) && !node.Draining && !_beingForgotten(node.NodeId);

    /// <summary>True while a <c>nodes forget</c> of the node runs.</summary>
    public bool IsBeingForgotten(StorageNodeInfo node) => _beingForgotten(node.NodeId);

    public bool IsHealthy(string nodeId) => _byId.TryGetValue(nodeId, out var node) && IsHealthy(node);

    public StorageNodeInfo? Live(string nodeId) => _byId.TryGetValue(nodeId, out var node) && IsLive(node) ? node : null;

    /// <summary>
    /// The word <c>nodes list</c> shows: forgetting (a forget runs), live, draining, drained (draining with nothing left
    /// to move and no put token handed out for it still usable), dead.
    /// </summary>
    public string StateOf(StorageNodeInfo node, long underReplicatedOnNode, bool putsOutstanding = false) => _beingForgotten(node.NodeId)
        ? "forgetting"
        : !IsLive(node)
        ? "dead"
        : node.Draining ? (underReplicatedOnNode == 0 && !putsOutstanding ? "drained" : "draining") : "live";

    /// <summary>
    /// A fingerprint of which nodes are healthy and which of them are full: a change means chunks may have fallen below
    /// the factor, or a node that was full can take the copies it could not.
    /// </summary>
    public string HealthKey() => string.Join(',', All.Where(IsHealthy).Select(n => n.Full ? n.NodeId + ":full" : n.NodeId).Order(StringComparer.Ordinal));
}
