using System.Collections.Concurrent;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Storage nodes a pass's later plans ask the metadata node to rank last (it still fills the replication factor from
/// them, so avoiding one never costs a copy while enough other nodes are healthy). A node that refused a put as full is
/// avoided for the rest of the pass; one that did not answer (a timeout, a stall, a dropped connection: UNAVAILABLE)
/// only for <see cref="UnavailableFor"/>, so one slow batch does not steer the whole pass away from it.
/// </summary>
internal sealed class AvoidedNodes
{
    /// <summary>How long a node that answered UNAVAILABLE stays avoided.</summary>
    public static readonly TimeSpan UnavailableFor = TimeSpan.FromSeconds(30);

    /// <summary>At most this many nodes are named in one plan (the metadata node refuses longer lists).</summary>
    public const int MaxNamed = 16;

    private readonly ConcurrentDictionary<string, long> _until = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    public AvoidedNodes(TimeProvider time) => _time = time;

    private long Now => _time.GetUtcNow().UtcTicks;

    /// <summary>The node refused a put as full: avoided for the rest of the pass.</summary>
    public void AddFull(string nodeId) => _until[nodeId] = long.MaxValue;

    /// <summary>The node did not answer a put: avoided for <see cref="UnavailableFor"/> (a full node stays avoided).</summary>
    public void AddUnavailable(string nodeId)
    {
        var until = Now + UnavailableFor.Ticks;
        _until.AddOrUpdate(nodeId, until, (_, old) => Math.Max(old, until));
    }

    /// <summary>The nodes avoided now (at most <see cref="MaxNamed"/>), for a plan request.</summary>
    public IReadOnlyList<string> Current()
    {
        var now = Now;
        var current = new List<string>();
        foreach (var (node, until) in _until)
        {
            if (until > now)
            {
                current.Add(node);
                if (current.Count == MaxNamed)
                {
                    break;
                }
            }
        }

        return current;
    }
}
