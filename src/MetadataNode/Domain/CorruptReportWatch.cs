using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// The chunks corrupt reports removed a holder of, while one <c>nodes forget</c> runs, that still list the node being
/// forgotten (<see cref="StoreTransactions.WatchCorruptReports"/>): such a report may have left that node the only holder
/// of a chunk its scan saw with another copy. Filled and read under the write lock; dispose to stop.
/// </summary>
internal sealed class CorruptReportWatch : IDisposable
{
    private readonly StoreTransactions _transactions;

    public CorruptReportWatch(StoreTransactions transactions, string nodeId)
    {
        _transactions = transactions;
        NodeId = nodeId;
    }

    /// <summary>The node being forgotten.</summary>
    public string NodeId { get; }

    /// <summary>The chunks reported (read and written under the write lock only).</summary>
    public HashSet<ChunkId> Ids { get; } = [];

    public void Dispose() => _transactions.Unwatch(this);
}
