using Dropbox.Shared.Chunks;
using Dropbox.Shared.IO;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// Group commit through the shared pipelined <see cref="GroupCommit{TItem, TBatch}"/>: the writer stage appends batches
/// to the segments as soon as they arrive; the barrier stage fsyncs everything written so far in one call, then
/// publishes it to the index and completes the callers. The disk never idles waiting for the next batch to be
/// gathered, and no caller hears "stored" before its fsync.
/// </summary>
public sealed partial class ChunkEngine
{
    private const int MaxBatchCount = 4096;

    private GroupCommit<WriteOp, WrittenBatch> _commit = null!;
    private EngineCommitStages _stages = null!;

    // State of ids written but not yet published to the index. Writer and barrier stages only.
    private readonly UnappliedWrites _unapplied = new();

    // The writer's record hasher (one writer thread), reset for each record.
    private readonly System.IO.Hashing.XxHash3 _recordHash = new();

    /// <inheritdoc />
    public Exception? WriteFault => _stages.WriteFault;

    private void StartWriter()
    {
        _stages = new EngineCommitStages(WriteBatch, Apply, _unapplied.Retire, _logger);
        _commit = new GroupCommit<WriteOp, WrittenBatch>(
            _stages,
            new GroupCommitOptions
            {
                MaxItems = MaxBatchCount,
                MaxBytes = _options.MaxBatchBytes,
                QueueCapacity = _options.WriteQueueCapacity,
                Pipelined = true,
            },
            size: op => op.PayloadLength + SegmentRecord.HeaderSize,
            linger: _stages.HoldFor);
    }

    /// <summary>Appends a batch to the active segment (rolling if needed) without fsync.</summary>
    private WrittenBatch WriteBatch(List<WriteOp> batch)
    {
        Span<byte> header = stackalloc byte[SegmentRecord.HeaderSize];
        var active = _active;
        var start = (Segment: active, Length: active.Length);
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
                var payload = op.TakePayload();
                var (previous, pendingWriter) = _unapplied.StateOf(op.Id, _index);
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

                var recordLength = SegmentRecord.HeaderSize + payload.Length;
                if (pos > 0 && pos + recordLength > _options.SegmentMaxBytes)
                {
                    var next = _lifecycle.Roll(active, appender, pos);

                    // The full segment, closed, is fsynced with this batch.
                    if (!segments.Contains(active))
                    {
                        segments.Add(active);
                    }

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

                if (appender.TryReserve((int)recordLength, out var staged))
                {
                    // The one copy of the payload (in one piece or several), then its record's header over it, hashed in one piece.
                    SegmentRecord.WriteInPlace(staged, op.Kind, op.Id, op.Encoding, op.PlainLength, payload);
                }
                else
                {
                    SegmentRecord.WriteHeader(header, _recordHash, op.Kind, op.Id, op.Encoding, op.PlainLength, payload);
                    appender.Append(header);
                    appender.Append(payload);
                }

                ChunkLocation? now = null;
                if (op.Kind == RecordKind.Chunk)
                {
                    op.NewLocation = new ChunkLocation(active.Number, pos, op.PayloadLength, op.PlainLength, op.Encoding);
                    now = op.NewLocation;
                }

                _unapplied.Written(op, now);

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
        catch (Exception failure)
        {
            _unapplied.Retire(batch);

            // Leave no half-written batch behind: the next batch starts where this one did.
            if (ReferenceEquals(active, start.Segment))
            {
                try
                {
                    appender.Rollback();
                }
                catch (Exception ex)
                {
                    // Records of the failed batch may be durable (another batch's fsync) and could not be cut off.
                    _stages.StopWrites(new AggregateException(failure, ex));
                }
            }
            else if (_lifecycle.RollBack(start.Segment, start.Length, failure))
            {
                _active = start.Segment;
            }

            throw;
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

                // Published: every earlier op is too, so a later failure has nothing before this one to restore.
                op.HiddenPending = null;
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
}
