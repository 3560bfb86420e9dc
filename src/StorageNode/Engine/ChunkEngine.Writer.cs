using System.Buffers;
using Dropbox.Shared.Chunks;

namespace Dropbox.StorageNode.Engine;

public sealed partial class ChunkEngine
{
    private const int MaxBatchCount = 4096;

    private async Task WriterLoopAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<WriteOp>();
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            long bytes = 0;
            while (bytes < _options.MaxBatchBytes && batch.Count < MaxBatchCount && reader.TryRead(out var op))
            {
                batch.Add(op);
                bytes += op.Payload.Length + SegmentRecord.HeaderSize;
            }

            try
            {
                WriteBatch(batch);
            }
            catch (Exception ex)
            {
                Log.BatchFailed(_logger, batch.Count, ex);
                foreach (var op in batch)
                {
                    op.Done.TrySetException(ex);
                }
            }
        }
    }

    /// <summary>Appends a batch, fsyncs once, then publishes it to the index and completes its callers.</summary>
    private void WriteBatch(List<WriteOp> batch)
    {
        var headers = ArrayPool<byte>.Shared.Rent(batch.Count * SegmentRecord.HeaderSize);
        var gather = new List<ReadOnlyMemory<byte>>(batch.Count * 2);
        var current = new Dictionary<ChunkId, ChunkLocation?>();
        var active = _active;
        var writeStart = active.Length;
        var pos = writeStart;
        try
        {
            for (var i = 0; i < batch.Count; i++)
            {
                var op = batch[i];
                ChunkLocation? previous = current.TryGetValue(op.Id, out var inBatch)
                    ? inBatch
                    : _index.TryGet(op.Id, out var indexed) ? indexed : null;
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
                    // Roll: make what went to the old segment durable before moving on.
                    Flush(active, gather, writeStart, pos);
                    active = CreateSegment(active.Number + 1);
                    _active = active;
                    writeStart = pos = 0;
                }

                var header = headers.AsMemory(i * SegmentRecord.HeaderSize, SegmentRecord.HeaderSize);
                SegmentRecord.WriteHeader(header.Span, op.Kind, op.Id, op.Encoding, op.PlainLength, op.Payload.Span);
                gather.Add(header);
                if (!op.Payload.IsEmpty)
                {
                    gather.Add(op.Payload);
                }

                if (op.Kind == RecordKind.Chunk)
                {
                    op.NewLocation = new ChunkLocation(active.Number, pos, op.Payload.Length, op.PlainLength, op.Encoding);
                    current[op.Id] = op.NewLocation;
                }
                else
                {
                    current[op.Id] = null;
                }

                pos += recordLength;
            }

            Flush(active, gather, writeStart, pos);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(headers);
        }

        lock (_applyLock)
        {
            foreach (var op in batch)
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

            _applied = (active.Number, active.Length);
        }

        foreach (var op in batch)
        {
            op.Done.TrySetResult(!op.Skip);
        }
    }

    private static void Flush(Segment segment, List<ReadOnlyMemory<byte>> gather, long writeStart, long end)
    {
        if (gather.Count == 0)
        {
            return;
        }

        try
        {
            RandomAccess.Write(segment.Handle, gather, writeStart);
            RandomAccess.FlushToDisk(segment.Handle);
        }
        catch
        {
            // Leave no half-written batch behind: the next batch starts where this one did.
            try
            {
                RandomAccess.SetLength(segment.Handle, writeStart);
            }
            catch (IOException)
            {
            }

            throw;
        }

        segment.Length = end;
        gather.Clear();
    }
}
