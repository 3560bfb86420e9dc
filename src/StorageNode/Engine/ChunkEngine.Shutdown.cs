namespace Dropbox.StorageNode.Engine;

/// <summary>Shutdown: a clean stop (final checkpoint) and, for crash tests, an abandon that leaves disk as kill -9 would.</summary>
public sealed partial class ChunkEngine
{
    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopBackgroundWorkAsync().ConfigureAwait(false);
        await _maintenance.WaitAsync().ConfigureAwait(false);
        try
        {
            await CheckpointCoreAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            EngineLog.CheckpointFailed(_logger, ex);
        }
        finally
        {
            _index.Dispose();
            foreach (var segment in _segments.Values)
            {
                segment.Appender?.Close();
                segment.Appender = null;
                segment.Retire();
            }

            _maintenance.Release();
            _stop.Dispose();
        }
    }

    /// <summary>Ends the queue and waits for the group commit (every queued write done) and the checkpoint loop to finish.</summary>
    private async Task StopBackgroundWorkAsync()
    {
        await _commit.CompleteAsync().ConfigureAwait(false);
        await _stop.CancelAsync().ConfigureAwait(false);
        await _checkpointLoop.ConfigureAwait(false);
    }

    /// <summary>
    /// Stops as a process killed at this instant would (crash tests): no checkpoint, no positions file, nothing
    /// flushed; queued writes fail. Call only with no maintenance operation in flight.
    /// </summary>
    internal async Task AbandonAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopBackgroundWorkAsync().ConfigureAwait(false);
        _index.Dispose();
        foreach (var segment in _segments.Values)
        {
            segment.Appender?.Dispose();
            segment.Appender = null;
            segment.Retire();
        }

        _stop.Dispose();
    }
}
