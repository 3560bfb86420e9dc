namespace Dropbox.StorageNode.Engine;

public sealed partial class ChunkEngine
{
    // Segment holds (backup snapshots) waiting for the maintenance lock: a scrub yields it to them between chunks.
    private int _segmentHoldsWaiting;

    /// <inheritdoc />
    public async Task<SegmentHold> HoldSegmentsAsync(CancellationToken cancellationToken)
    {
        // The maintenance lock is what compaction and scrub take: while it is held no segment is rewritten or deleted
        // and no quarantine record is appended. Appends and the writer's segment rolls go on. A scrub (hours on a
        // large store) gives the lock up between chunks while a hold waits: a backup holds the cluster's deletions
        // until every node's snapshot is taken, so it must not wait for a whole scrub pass.
        Interlocked.Increment(ref _segmentHoldsWaiting);
        try
        {
            await _maintenance.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _segmentHoldsWaiting);
        }

        try
        {
            // A segment the writer has just created but not yet made active counts as active too (copied, not linked).
            var active = Volatile.Read(ref _active).Number;
            var segments = _segments.Values
                .OrderBy(s => s.Number)
                .Select(s => new SegmentFile(s.Path, s.Length, s.Number >= active))
                .ToList();
            return new SegmentHold(segments, () => _maintenance.Release());
        }
        catch
        {
            _maintenance.Release();
            throw;
        }
    }
}
