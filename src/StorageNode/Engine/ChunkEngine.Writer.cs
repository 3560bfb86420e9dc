using System.Threading.Channels;
using Dropbox.Shared.Chunks;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// Group commit as a two-stage pipeline: the writer appends batches to the page cache as soon as they arrive; the
/// flusher fsyncs everything written so far in one call, then publishes it to the index and completes the callers.
/// The disk never idles waiting for the next batch to be gathered, and no caller hears "stored" before its fsync.
/// </summary>
public sealed partial class ChunkEngine
{
    private const int MaxBatchCount = 4096;

    private readonly Channel<WrittenBatch> _written = Channel.CreateBounded<WrittenBatch>(new BoundedChannelOptions(8)
    {
        SingleReader = true,
        SingleWriter = true,
        FullMode = BoundedChannelFullMode.Wait,
    });

    // State of ids written but not yet published to the index (null location = deleted). Writer and flusher only.
    private readonly Dictionary<ChunkId, (ChunkLocation? Location, long Sequence)> _unapplied = new();
    private long _sequence;

    private async Task WriterLoopAsync()
    {
        var reader = _queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                var batch = new List<WriteOp>();
                long bytes = 0;
                while (bytes < _options.MaxBatchBytes && batch.Count < MaxBatchCount && reader.TryRead(out var op))
                {
                    batch.Add(op);
                    bytes += op.Payload.Length + SegmentRecord.HeaderSize;
                }

                WrittenBatch written;
                try
                {
                    written = WriteBatch(batch);
                }
                catch (Exception ex)
                {
                    Log.BatchFailed(_logger, batch.Count, ex);
                    Fail(batch, ex);
                    continue;
                }

                await _written.Writer.WriteAsync(written).ConfigureAwait(false);
            }
        }
        finally
        {
            _written.Writer.TryComplete();
        }
    }

    /// <summary>Appends a batch to the active segment (rolling if needed) without fsync.</summary>
    private WrittenBatch WriteBatch(List<WriteOp> batch)
    {
        Span<byte> header = stackalloc byte[SegmentRecord.HeaderSize];
        var active = _active;
        var segments = new List<Segment> { active };
        var pos = active.Length;
        var appender = active.Appender!;
        appender.Mark();
        try
        {
            for (var i = 0; i < batch.Count; i++)
            {
                var op = batch[i];
                ChunkLocation? previous;
                lock (_unapplied)
                {
                    previous = _unapplied.TryGetValue(op.Id, out var pending)
                        ? pending.Location
                        : _index.TryGet(op.Id, out var indexed) ? indexed : null;
                }

                op.Previous = previous;
                var skip = op.Kind switch
                {
                    RecordKind.Chunk when op.Expected is null => previous is not null,
                    RecordKind.Chunk => previous != op.Expected,
                    RecordKind.Quarantine => previous != op.Expected,
                    _ => previous is null,
                };
                if (skip)
                {
                    op.Skip = true;
                    continue;
                }

                var recordLength = SegmentRecord.HeaderSize + (long)op.Payload.Length;
                if (pos > 0 && pos + recordLength > _options.SegmentMaxBytes)
                {
                    // The full segment is closed (its padding cut off) and fsynced with this batch.
                    appender.Flush();
                    active.Length = pos;
                    active.Appender = null;
                    appender.Close();
                    active = CreateSegment(active.Number + 1);
                    _active = active;
                    segments.Add(active);
                    appender = active.Appender!;
                    appender.Mark();
                    pos = 0;
                }

                SegmentRecord.WriteHeader(header, op.Kind, op.Id, op.Encoding, op.PlainLength, op.Payload.Span);
                appender.Append(header);
                appender.Append(op.Payload.Span);

                op.Sequence = ++_sequence;
                ChunkLocation? now = null;
                if (op.Kind == RecordKind.Chunk)
                {
                    op.NewLocation = new ChunkLocation(active.Number, pos, op.Payload.Length, op.PlainLength, op.Encoding);
                    now = op.NewLocation;
                }

                lock (_unapplied)
                {
                    _unapplied[op.Id] = (now, op.Sequence);
                }

                pos += recordLength;
            }

            appender.Flush();
            active.Length = pos;
            return new WrittenBatch(batch, segments, active, pos);
        }
        catch
        {
            ClearUnapplied(batch);

            // Leave no half-written batch behind: the next batch starts where this one did.
            appender.Rollback();
            throw;
        }
    }

    private async Task FlusherLoopAsync()
    {
        var reader = _written.Reader;
        var batches = new List<WrittenBatch>();
        var segments = new HashSet<Segment>();
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batches.Clear();
            segments.Clear();
            while (reader.TryRead(out var batch))
            {
                batches.Add(batch);
                segments.UnionWith(batch.Segments);
            }

            try
            {
                // One fsync covers every batch written so far.
                foreach (var segment in segments.OrderBy(s => s.Number))
                {
                    segment.Handle.Flush();
                }
            }
            catch (Exception ex)
            {
                Log.BatchFailed(_logger, batches.Sum(b => b.Ops.Count), ex);
                foreach (var batch in batches)
                {
                    ClearUnapplied(batch.Ops);
                    Fail(batch.Ops, ex);
                }

                continue;
            }

            foreach (var batch in batches)
            {
                Apply(batch);
                ClearUnapplied(batch.Ops);
                foreach (var op in batch.Ops)
                {
                    op.Done.TrySetResult(!op.Skip);
                }
            }
        }
    }

    /// <summary>Publishes a durable batch to the index and the segment counters, in write order.</summary>
    private void Apply(WrittenBatch batch)
    {
        lock (_applyLock)
        {
            foreach (var op in batch.Ops)
            {
                if (op.Skip)
                {
                    continue;
                }

                if (op.Previous is { } old && _segments.TryGetValue(old.Segment, out var oldSegment))
                {
                    Interlocked.Add(ref oldSegment.LiveBytes, -old.RecordLength);
                    Interlocked.Decrement(ref oldSegment.LiveCount);
                }

                switch (op.Kind)
                {
                    case RecordKind.Chunk:
                        _index.Upsert(op.Id, op.NewLocation);
                        var segment = _segments[op.NewLocation.Segment];
                        Interlocked.Add(ref segment.LiveBytes, op.NewLocation.RecordLength);
                        Interlocked.Increment(ref segment.LiveCount);
                        _quarantined.TryRemove(op.Id, out _);
                        break;
                    case RecordKind.Quarantine:
                        _index.Delete(op.Id);
                        _quarantined[op.Id] = 0;
                        break;
                    default:
                        _index.Delete(op.Id);
                        break;
                }
            }

            _applied = (batch.EndSegment.Number, batch.EndOffset);
        }
    }

    private void ClearUnapplied(List<WriteOp> ops)
    {
        lock (_unapplied)
        {
            foreach (var op in ops)
            {
                if (!op.Skip && op.Sequence != 0 && _unapplied.TryGetValue(op.Id, out var pending) && pending.Sequence == op.Sequence)
                {
                    _unapplied.Remove(op.Id);
                }
            }
        }
    }

    private static void Fail(List<WriteOp> ops, Exception ex)
    {
        foreach (var op in ops)
        {
            op.Done.TrySetException(ex);
        }
    }
}
