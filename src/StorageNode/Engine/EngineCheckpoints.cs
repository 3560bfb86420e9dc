using Dropbox.StorageNode.Engine.Files;
using Microsoft.Extensions.Logging;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// Checkpoints of the engine's index: the FASTER index is saved, then the positions file names it and where replay
/// resumes; checkpoints the file no longer names are purged. Knows nothing of the writer or of maintenance: the engine
/// holds its maintenance lock around <see cref="WriteAsync"/> and passes the position every record before which is in
/// the index. Recovery reads what this writes (<see cref="EngineRecovery"/>).
/// </summary>
internal sealed class EngineCheckpoints
{
    private readonly IEngineFiles _files;
    private readonly string _positionsPath;
    private readonly ChunkIndex _index;
    private readonly ILogger _logger;

    // The checkpoint the durable positions file names (kept until a newer one is named). Callers serialize WriteAsync.
    private Guid? _named;

    // Where replay resumes from the checkpoint this process named last (null until it names one): every record before it
    // is in that checkpoint.
    private (int Segment, long Offset)? _namedAt;

    private long _skipped;

    public EngineCheckpoints(IEngineFiles files, string positionsPath, ChunkIndex index, Guid? named, ILogger logger)
    {
        _files = files;
        _positionsPath = positionsPath;
        _index = index;
        _named = named;
        _logger = logger;
    }

    /// <summary>
    /// Saves the index and names it in the positions file with <paramref name="applied"/>, where replay resumes: every
    /// record before it must be in the index before this starts; records after it may or may not be, and replaying them
    /// again is harmless (upsert/delete are idempotent and in order). Not thread-safe: one at a time.
    /// </summary>
    public async Task WriteAsync((int Segment, long Offset) applied, CancellationToken cancellationToken)
    {
        var token = await _index.CheckpointAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            PositionsFile.Write(_files, _positionsPath, new Positions(token, applied.Segment, applied.Offset));
        }
        catch
        {
            // The positions file may name the old checkpoint or (if only the directory fsync failed) the new
            // one: keep both, purge every older one so failures do not pile checkpoints up without bound.
            var keep = new HashSet<Guid> { token };
            if (_named is { } named)
            {
                keep.Add(named);
            }

            try
            {
                // What the file names now, if its rename landed but the directory fsync did not.
                if (PositionsFile.Read(_files, _positionsPath) is { } current)
                {
                    keep.Add(current.Token);
                }

                _index.PurgeCheckpointsExcept(keep);
            }
            catch (IOException)
            {
                // The positions failure is the error to report; the next checkpoint purges again.
            }

            throw;
        }

        _named = token;
        _namedAt = applied;
        _index.PurgeCheckpointsExcept([token]);
    }

    /// <summary>
    /// As <see cref="WriteAsync"/>, unless the checkpoint this process named last already holds every record before
    /// <paramref name="applied"/> (nothing was written since): the periodic tick of a node that only serves reads, or sits
    /// idle, then costs nothing (a full FASTER checkpoint was ~10% of a node's CPU while it served a 1 GiB download).
    /// Every change to the index is a record, so an unmoved position means an unchanged index.
    /// </summary>
    public Task WriteIfMovedAsync((int Segment, long Offset) applied, CancellationToken cancellationToken)
    {
        if (_named is not null && _namedAt == applied)
        {
            Interlocked.Increment(ref _skipped);
            return Task.CompletedTask;
        }

        return WriteAsync(applied, cancellationToken);
    }

    /// <summary>Periodic checkpoints skipped because nothing was written since the last (tests).</summary>
    internal long Skipped => Interlocked.Read(ref _skipped);

    /// <summary>
    /// Runs <paramref name="checkpoint"/> every <paramref name="interval"/> until <paramref name="cancellationToken"/> is
    /// cancelled; a failed checkpoint is logged and the next tick tries again.
    /// </summary>
    public async Task RunEveryAsync(TimeSpan interval, Func<CancellationToken, Task> checkpoint, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await checkpoint(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    EngineLog.CheckpointFailed(_logger, ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
