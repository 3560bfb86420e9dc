using Dropbox.Shared.IO;
using Microsoft.Extensions.Logging;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// The chunk engine's stages of the shared <see cref="GroupCommit{TItem, TBatch}"/>: write a batch to the segments,
/// one fsync of every segment written since the last barrier, then publish to the index and answer the callers.
/// Owns the write fault: after a failed fsync no write is taken until a restart.
/// </summary>
internal sealed class EngineCommitStages : IGroupCommitStages<WriteOp, WrittenBatch>
{
    private readonly Func<List<WriteOp>, WrittenBatch> _write;
    private readonly Action<WrittenBatch> _apply;
    private readonly Action<List<WriteOp>> _clearUnapplied;
    private readonly ILogger _logger;

    // When the barrier stage started holding batches that wrote nothing (0: none held). Barrier stage only.
    private long _heldSince;

    // Recent fsync duration (ticks): how long a group of only skipped duplicates waits for a group commit.
    private long _fsyncTicks = TimeSpan.TicksPerMillisecond;

    // Set once an fsync of a segment failed: the bytes written since the last durable point may be gone (Linux
    // marks the failed pages clean, so a later fsync "succeeds" without them), and records after such a hole
    // would sit behind garbage that recovery stops at. Like PostgreSQL after its fsync lesson, the engine stops
    // taking writes rather than append after a lost range as if it were durable; reads go on, and a restart
    // recovers from what is on disk.
    private volatile Exception? _writeFault;

    public EngineCommitStages(Func<List<WriteOp>, WrittenBatch> write, Action<WrittenBatch> apply, Action<List<WriteOp>> clearUnapplied, ILogger logger)
    {
        _write = write;
        _apply = apply;
        _clearUnapplied = clearUnapplied;
        _logger = logger;
    }

    /// <summary>The failed fsync that stopped writes, or null.</summary>
    public Exception? WriteFault => _writeFault;

    /// <summary>
    /// Stops all writes until a restart (the writer could not undo a failed batch). Earlier batches still in flight
    /// (written, waiting for their fsync) fail too, although their records may be durable and found again after the
    /// restart: the safe direction (a caller told "failed" retries; one told "stored" must be able to rely on it).
    /// </summary>
    public void StopWrites(Exception cause)
    {
        if (_writeFault is null)
        {
            _writeFault = new IOException(
                "The chunk engine stopped taking writes: a failed write batch could not be undone. Restart the storage node to recover from what is on disk.",
                cause);
            EngineLog.RollbackFailed(_logger, cause);
        }
    }

    /// <inheritdoc />
    public WrittenBatch Write(IReadOnlyList<WriteOp> items)
    {
        if (_writeFault is { } fault)
        {
            throw fault;
        }

        var batch = items as List<WriteOp> ?? [.. items];
        try
        {
            return _write(batch);
        }
        catch (Exception ex)
        {
            EngineLog.BatchFailed(_logger, batch.Count, ex);
            throw;
        }
    }

    /// <summary>
    /// Batches of only skipped duplicates wrote nothing, but their callers still wait for a group commit (the next
    /// fsync of real writes, or about one fsync's time when none comes) so that the answer and its timing and order
    /// are those of a new chunk's put.
    /// </summary>
    public TimeSpan HoldFor(IReadOnlyList<WrittenBatch> batches)
    {
        if (_writeFault is not null || batches.Any(b => b.Segments.Count > 0))
        {
            _heldSince = 0;
            return TimeSpan.Zero;
        }

        if (_heldSince == 0)
        {
            _heldSince = System.Diagnostics.Stopwatch.GetTimestamp();
        }

        var left = TimeSpan.FromTicks(Volatile.Read(ref _fsyncTicks)) - System.Diagnostics.Stopwatch.GetElapsedTime(_heldSince);
        if (left <= TimeSpan.Zero)
        {
            _heldSince = 0;
            return TimeSpan.Zero;
        }

        return left;
    }

    /// <summary>One fsync of every segment the batches wrote to; a failure stops all writes until a restart.</summary>
    public void Sync(IReadOnlyList<WrittenBatch> batches)
    {
        _heldSince = 0;
        try
        {
            if (_writeFault is { } fault)
            {
                throw fault;
            }

            var segments = new HashSet<Segment>();
            foreach (var batch in batches)
            {
                segments.UnionWith(batch.Segments);
            }

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
                EngineLog.WritesStopped(_logger, ex);
            }

            EngineLog.BatchFailed(_logger, batches.Sum(b => b.Ops.Count), ex);
            throw;
        }
    }

    /// <summary>After the barrier: publishes a durable batch and completes its callers, or fails them.</summary>
    public void Complete(WrittenBatch batch, Exception? failure)
    {
        if (failure is not null)
        {
            _clearUnapplied(batch.Ops);
            Fail(batch.Ops, failure);
            return;
        }

        _apply(batch);
        _clearUnapplied(batch.Ops);
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

    /// <inheritdoc />
    public void Fail(IReadOnlyList<WriteOp> items, Exception failure)
    {
        foreach (var op in items)
        {
            op.Done.TrySetException(failure);
        }
    }
}
