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

    // State of ids written but not yet published to the index (null location = deleted), and the op that wrote
    // it. Writer and flusher only.
    private readonly Dictionary<ChunkId, (ChunkLocation? Location, long Sequence, WriteOp Writer)> _unapplied = new();
    private long _sequence;

    // Set once an fsync of a segment failed: the bytes written since the last durable point may be gone (Linux
    // marks the failed pages clean, so a later fsync "succeeds" without them), and records after such a hole
    // would sit behind garbage that recovery stops at. Like PostgreSQL after its fsync lesson, the engine stops
    // taking writes rather than append after a lost range as if it were durable; reads go on, and a restart
    // recovers from what is on disk.
    private volatile Exception? _writeFault;

    /// <inheritdoc />
    public Exception? WriteFault => _writeFault;

    // Recent fsync duration (ticks): how long a group of only skipped duplicates waits for a group commit.
    private long _fsyncTicks = TimeSpan.TicksPerMillisecond;

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

                if (_writeFault is { } fault)
                {
                    Fail(batch, fault);
                    continue;
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
        var segments = new List<Segment>();
        var pos = active.Length;
        var appender = active.Appender
            ?? throw new InvalidOperationException($"Segment {active.Number} is active but has no appender.");
        appender.Mark();
        try
        {
            for (var i = 0; i < batch.Count; i++)
            {
                var op = batch[i];
                ChunkLocation? previous;
                WriteOp? pendingWriter = null;
                lock (_unapplied)
                {
                    if (_unapplied.TryGetValue(op.Id, out var pending))
                    {
                        previous = pending.Location;
                        pendingWriter = pending.Writer;
                    }
                    else
                    {
                        previous = _index.TryGet(op.Id, out var indexed) ? indexed : null;
                    }
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
                    // Decided on a state not yet durable: the op shares the fate of the one that wrote that state
                    // (a duplicate put of a chunk whose first copy's fsync fails must fail, not answer "held").
                    op.Skip = true;
                    op.DependsOn = pendingWriter;
                    continue;
                }

                var recordLength = SegmentRecord.HeaderSize + (long)op.Payload.Length;
                if (pos > 0 && pos + recordLength > _options.SegmentMaxBytes)
                {
                    // The next segment is created first: if that fails (a failed directory fsync, say) nothing has
                    // changed yet, the batch is rolled back in the old segment and the next batch tries again.
                    var next = CreateSegment(active.Number + 1);
                    try
                    {
                        appender.Flush();
                    }
                    catch
                    {
                        DropSegment(next);
                        throw;
                    }

                    // The full segment is closed (its padding cut off) and fsynced with this batch.
                    if (!segments.Contains(active))
                    {
                        segments.Add(active);
                    }

                    active.Length = pos;
                    active.Appender = null;
                    CloseFull(active, appender);
                    active = next;
                    _active = active;
                    appender = active.Appender!;
                    appender.Mark();
                    pos = 0;
                }

                if (!segments.Contains(active))
                {
                    segments.Add(active);
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
                    _unapplied[op.Id] = (now, op.Sequence, op);
                }

                pos += recordLength;
            }

            // A batch of only skipped ops (puts of held chunks) writes nothing: no tail-block rewrite, no fsync.
            if (segments.Count > 0)
            {
                appender.Flush();
                active.Length = pos;
            }

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
        long carriedSince = 0;
        while (true)
        {
            // Batches of only skipped duplicates wrote nothing, but their callers still wait for a group commit
            // (the next fsync of real writes, or about one fsync's time when none comes) so that the answer and
            // its timing and order are those of a new chunk's put.
            var carried = batches.Count > 0;
            if (!carried && !await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                break;
            }

            var due = false;
            if (carried)
            {
                var left = TimeSpan.FromTicks(Volatile.Read(ref _fsyncTicks)) - System.Diagnostics.Stopwatch.GetElapsedTime(carriedSince);
                due = left <= TimeSpan.Zero || !await WaitToReadAsync(reader, left).ConfigureAwait(false);
            }

            while (reader.TryRead(out var batch))
            {
                batches.Add(batch);
                segments.UnionWith(batch.Segments);
            }

            if (segments.Count == 0 && !due && _writeFault is null)
            {
                if (!carried)
                {
                    carriedSince = System.Diagnostics.Stopwatch.GetTimestamp();
                }

                continue;
            }

            try
            {
                if (_writeFault is { } fault)
                {
                    throw fault;
                }

                // One fsync covers every batch written so far.
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                foreach (var segment in segments.OrderBy(s => s.Number))
                {
                    segment.Handle.Flush();
                }

                if (segments.Count > 0)
                {
                    var ticks = Math.Clamp(System.Diagnostics.Stopwatch.GetElapsedTime(started).Ticks, TimeSpan.TicksPerMillisecond / 20, 50 * TimeSpan.TicksPerMillisecond);
                    Volatile.Write(ref _fsyncTicks, (Volatile.Read(ref _fsyncTicks) * 7 + ticks) / 8);
                }
            }
            catch (Exception ex)
            {
                if (_writeFault is null)
                {
                    _writeFault = new IOException(
                        "The chunk engine stopped taking writes: an fsync of a segment failed, so bytes written since the last durable point may be lost. Restart the storage node to recover from what is on disk.",
                        ex);
                    Log.WritesStopped(_logger, ex);
                }

                Log.BatchFailed(_logger, batches.Sum(b => b.Ops.Count), ex);
                foreach (var batch in batches)
                {
                    ClearUnapplied(batch.Ops);
                    Fail(batch.Ops, ex);
                }

                batches.Clear();
                segments.Clear();
                continue;
            }

            foreach (var batch in batches)
            {
                Apply(batch);
                ClearUnapplied(batch.Ops);
                foreach (var op in batch.Ops)
                {
                    if (op.DependsOn?.Done.Task is { IsFaulted: true } failed)
                    {
                        op.Done.TrySetException(failed.Exception!.InnerExceptions);
                    }
                    else
                    {
                        op.Done.TrySetResult(!op.Skip);
                    }
                }
            }

            batches.Clear();
            segments.Clear();
        }
    }

    private static async Task<bool> WaitToReadAsync(ChannelReader<WrittenBatch> reader, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return await reader.WaitToReadAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
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
