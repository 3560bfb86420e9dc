namespace Dropbox.StorageNode.Engine;

/// <summary>Checkpoints (<see cref="EngineCheckpoints"/>) under the maintenance lock, at the last published write.</summary>
public sealed partial class ChunkEngine
{
    /// <inheritdoc />
    public Task CheckpointAsync(CancellationToken cancellationToken) => UnderMaintenanceAsync(CheckpointCoreAsync, cancellationToken);

    /// <summary>Periodic checkpoints skipped because nothing was written since the last (tests).</summary>
    internal long CheckpointsSkipped => _checkpoints.Skipped;

    /// <summary>The periodic checkpoint: skipped when nothing was written since the last one (<see cref="EngineCheckpoints.WriteIfMovedAsync"/>).</summary>
    private Task CheckpointIfMovedAsync(CancellationToken cancellationToken) =>
        UnderMaintenanceAsync(ct => _checkpoints.WriteIfMovedAsync(Applied(), ct), cancellationToken);

    /// <summary>A checkpoint at the last published write; the caller holds the maintenance lock.</summary>
    private Task CheckpointCoreAsync(CancellationToken cancellationToken) => _checkpoints.WriteAsync(Applied(), cancellationToken);

    private async Task UnderMaintenanceAsync(Func<CancellationToken, Task> body, CancellationToken cancellationToken)
    {
        await _maintenance.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await body(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _maintenance.Release();
        }
    }

    /// <summary>The last published write: every record before it is in the index before a checkpoint starts.</summary>
    private (int Segment, long Offset) Applied()
    {
        lock (_applyLock)
        {
            return _applied;
        }
    }
}
