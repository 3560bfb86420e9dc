namespace Dropbox.StorageNode.Engine;

/// <summary>Checkpoints: the FASTER index is saved, then the positions file names it and where replay resumes.</summary>
public sealed partial class ChunkEngine
{
    /// <inheritdoc />
    public async Task CheckpointAsync(CancellationToken cancellationToken)
    {
        await _maintenance.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await CheckpointCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _maintenance.Release();
        }
    }

    private async Task CheckpointCoreAsync(CancellationToken cancellationToken)
    {
        // Every record before 'applied' is in the index before the checkpoint starts; records after it may or
        // may not be, and replaying them again is harmless (upsert/delete are idempotent and in order).
        (int Segment, long Offset) applied;
        lock (_applyLock)
        {
            applied = _applied;
        }

        var token = await _index.CheckpointAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            PositionsFile.Write(_files, _layout.Positions, new Positions(token, applied.Segment, applied.Offset));
        }
        catch
        {
            // The positions file may name the old checkpoint or (if only the directory fsync failed) the new
            // one: keep both, purge every older one so failures do not pile checkpoints up without bound.
            var keep = new HashSet<Guid> { token };
            if (_namedCheckpoint is { } named)
            {
                keep.Add(named);
            }

            try
            {
                // What the file names now, if its rename landed but the directory fsync did not.
                if (PositionsFile.Read(_files, _layout.Positions) is { } current)
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

        _namedCheckpoint = token;
        _index.PurgeCheckpointsExcept([token]);
    }

    private async Task CheckpointLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.CheckpointInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await CheckpointAsync(cancellationToken).ConfigureAwait(false);
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
