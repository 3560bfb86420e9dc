using System.Collections.Concurrent;
using Dropbox.MetadataNode.Storage.Records;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// Deletions owed by a node that is back. A node the collector still has to delete a chunk from is trusted with nothing
/// of that chunk (ChunkLedger.MarkStored): an upload whose put lands there is refused until the deletion is done. Left to
/// the next pass, that was up to a whole --gc-interval-seconds (300 s) of an upload failing on a node that was up again;
/// now a node heard from again after it read dead, or registering again, has its owed deletions finished at once, and
/// a node whose deletions failed (on such a run or a pass) is tried again on a heartbeat after a back-off.
/// </summary>
internal sealed partial class GarbageCollector
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan LastRetry = TimeSpan.FromSeconds(60);

    // Twice the storage gateway's 30 s call timeout: a delete that failed here is assumed landed or dropped by then.
    private static readonly TimeSpan DeleteMayLandFor = TimeSpan.FromSeconds(60);

    // When each node's last delete failed (memory only: a metadata-node restart forgets it, and a delete still queued on
    // a node then is not known of here).
    private readonly ConcurrentDictionary<string, long> _deleteFailedAtMs = new(StringComparer.Ordinal);

    // Nodes back since the last run of FinishOwedAsync (memory only: after a restart every node's first heartbeat, or
    // the first pass, finds what it owes).
    private readonly ConcurrentDictionary<string, byte> _returned = new(StringComparer.Ordinal);

    // Nodes whose deletions failed, with when they are due again and the back-off after that (memory only, one entry
    // per node at most). A node that stays live wakes no run by coming back, so its heartbeat does once this is due.
    private readonly ConcurrentDictionary<string, Retry> _retries = new(StringComparer.Ordinal);

    /// <summary>Completes when a node came back (<see cref="NoteReturned"/>): take it before <see cref="FinishOwedAsync"/>, then wait on it.</summary>
    public ChangeSignal Returns { get; } = new();

    /// <summary>Notes that <paramref name="nodeId"/> is back (NodeRegistry.Returned): its owed deletions are due now.</summary>
    public void NoteReturned(string nodeId)
    {
        _returned[nodeId] = 0;
        Returns.Notify();
    }

    /// <summary>
    /// Notes a heartbeat of <paramref name="nodeId"/>, live already (NodeRegistry.HeardLive): when its deletions failed and
    /// the back-off since has passed (1 s doubling to 60 s: a node that keeps failing is not asked at every heartbeat),
    /// they are due now.
    /// </summary>
    public void NoteHeard(string nodeId)
    {
        if (_retries.TryGetValue(nodeId, out var retry) && NowMs >= retry.DueMs)
        {
            NoteReturned(nodeId);
        }
    }

    /// <summary>
    /// Finishes the deletions already owed by the nodes back (or due again) since the last call, and nothing else: the
    /// collection of a pass limited to the chunks still to be deleted from one of them, asking only them, and starting
    /// no deletion (a chunk due for one waits for the next pass, which asks all its holders). Under the same
    /// one-at-a-time rule as the passes (a deletion is never sent by two runs at once). A node whose deletions failed is
    /// tried again after a back-off (<see cref="NoteHeard"/>). Nothing when no node came back.
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

            HoldRetries(nodes);
            try
            {
                var attempts = new DeletionAttempts();
                var (deleted, failed, bytes) = await CollectChunksAsync(nodes, attempts, cancellationToken).ConfigureAwait(false);
                NoteAttempts(attempts, nodes);
                if (deleted > 0 || failed > 0)
                {
                    Log.OwedDeletionsFinished(_logger, nodes.Count, deleted, failed);
                }

                return new GcResult(0, deleted, failed, bytes);
            }
            finally
            {
                ReleaseRetries(nodes);
            }
        }
        finally
        {
            _pass.Release();
        }
    }

    /// <summary>
    /// A retry of <paramref name="nodes"/> is not due while this run asks them: a delete call may hang up to 30 s, and a
    /// heartbeat meanwhile would queue the next run at once (the back-off is set only when the run ends).
    /// </summary>
    private void HoldRetries(IEnumerable<string> nodes)
    {
        foreach (var node in nodes)
        {
            if (_retries.TryGetValue(node, out var retry))
            {
                _retries[node] = retry with { DueMs = long.MaxValue };
            }
        }
    }

    /// <summary>A run that ended without noting its attempts (it threw) leaves its nodes due after their back-off.</summary>
    private void ReleaseRetries(IEnumerable<string> nodes)
    {
        var now = NowMs;
        foreach (var node in nodes)
        {
            if (_retries.TryGetValue(node, out var retry) && retry.DueMs == long.MaxValue)
            {
                _retries[node] = retry with { DueMs = now + retry.BackoffMs };
            }
        }
    }

    /// <summary>
    /// Schedules a retry for every node that failed (the back-off doubles from the last), and ends it for every node
    /// that deleted, or of <paramref name="asked"/> (a run for nodes that are back) that owed nothing any more.
    /// </summary>
    private void NoteAttempts(DeletionAttempts attempts, IEnumerable<string> asked)
    {
        var now = NowMs;
        foreach (var node in attempts.Failed)
        {
            var backoff = _retries.TryGetValue(node, out var last)
                ? Math.Min(last.BackoffMs * 2, (long)LastRetry.TotalMilliseconds)
                : (long)FirstRetry.TotalMilliseconds;
            _retries[node] = new Retry(now + backoff, backoff);
        }

        foreach (var node in attempts.Deleted.Concat(asked).Where(n => !attempts.Failed.Contains(n)))
        {
            _retries.TryRemove(node, out _);
        }
    }

    /// <summary>
    /// Whether a delete sent to <paramref name="nodeId"/> may still land: its delete failed in this run
    /// (<paramref name="failedNow"/>) or less than <see cref="DeleteMayLandFor"/> ago. A delete that timed out here may
    /// still be queued on the node (its group commit), and land after the node was trusted again.
    /// </summary>
    private bool MayStillDelete(string nodeId, IReadOnlySet<string>? failedNow) =>
        failedNow?.Contains(nodeId) == true
        || (_deleteFailedAtMs.TryGetValue(nodeId, out var at) && NowMs - at < (long)DeleteMayLandFor.TotalMilliseconds);

    private void NoteDeleteFailed(string nodeId) => _deleteFailedAtMs[nodeId] = NowMs;

    private static bool OwesDeletion(ChunkRecord? record, IReadOnlySet<string> nodes) =>
        record is not null && record.DeletingLocations.Any(nodes.Contains);

    private readonly record struct Retry(long DueMs, long BackoffMs);

    /// <summary>The nodes a collection asked to delete, and those of them that failed.</summary>
    private sealed class DeletionAttempts
    {
        public HashSet<string> Deleted { get; } = new(StringComparer.Ordinal);

        public HashSet<string> Failed { get; } = new(StringComparer.Ordinal);
    }
}
