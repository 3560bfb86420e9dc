using System.Collections.Concurrent;
using Dropbox.MetadataNode.Storage.Records;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// Deletions owed by a node that is back. A node the collector still has to delete a chunk from is trusted with nothing
/// of that chunk (ChunkLedger.MarkStored): an upload whose put lands there is refused until the deletion is done. Left to
/// the next pass, that was up to a whole --gc-interval-seconds (300 s) of an upload failing on a node that was up again;
/// now a node heard from again after it read dead, or registering again, has its owed deletions finished at once.
/// </summary>
internal sealed partial class GarbageCollector
{
    // Nodes back since the last run of FinishOwedAsync (memory only: after a restart every node's first heartbeat, or
    // the first pass, finds what it owes).
    private readonly ConcurrentDictionary<string, byte> _returned = new(StringComparer.Ordinal);

    /// <summary>Completes when a node came back (<see cref="NoteReturned"/>): take it before <see cref="FinishOwedAsync"/>, then wait on it.</summary>
    public ChangeSignal Returns { get; } = new();

    /// <summary>Notes that <paramref name="nodeId"/> is back (NodeRegistry.Returned): its owed deletions are due now.</summary>
    public void NoteReturned(string nodeId)
    {
        _returned[nodeId] = 0;
        Returns.Notify();
    }

    /// <summary>
    /// Finishes the deletions owed by the nodes back since the last call: the collection of a pass, limited to the chunks
    /// still to be deleted from one of them, under the same one-at-a-time rule as the passes (a deletion is never sent by
    /// two runs at once). Nothing when no node came back.
    /// </summary>
    public async Task<GcResult> FinishOwedAsync(CancellationToken cancellationToken)
    {
        if (_returned.IsEmpty)
        {
            return default;
        }

        await _pass.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var nodes = new HashSet<string>(StringComparer.Ordinal);
            foreach (var node in _returned.Keys)
            {
                if (_returned.TryRemove(node, out _))
                {
                    nodes.Add(node);
                }
            }

            if (nodes.Count == 0)
            {
                return default;
            }

            var (deleted, failed, bytes) = await CollectChunksAsync(nodes, cancellationToken).ConfigureAwait(false);
            if (deleted > 0)
            {
                Log.GcPass(_logger, 0, deleted);
            }

            return new GcResult(0, deleted, failed, bytes);
        }
        finally
        {
            _pass.Release();
        }
    }

    private static bool OwesDeletion(ChunkRecord? record, IReadOnlySet<string> nodes) =>
        record is not null && record.DeletingLocations.Any(nodes.Contains);
}
