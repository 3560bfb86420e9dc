namespace Dropbox.StorageNode.Engine;

public sealed partial class ChunkEngine
{
    /// <inheritdoc />
    public async Task<SegmentHold> HoldSegmentsAsync(CancellationToken cancellationToken)
    {
        // The maintenance lock is what compaction and scrub take: while it is held no segment is rewritten or deleted
        // and no quarantine record is appended. Appends and the writer's segment rolls go on.
        await _maintenance.WaitAsync(cancellationToken).ConfigureAwait(false);
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
