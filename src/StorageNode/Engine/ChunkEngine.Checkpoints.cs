namespace Dropbox.StorageNode.Engine;

/// <summary>Checkpoints (<see cref="EngineCheckpoints"/>) under the maintenance lock, at the last published write.</summary>
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

    /// <summary>A checkpoint at the last published write; the caller holds the maintenance lock.</summary>
    private Task CheckpointCoreAsync(CancellationToken cancellationToken)
    {
        // Every record before 'applied' is in the index before the checkpoint starts.
        (int Segment, long Offset) applied;
        lock (_applyLock)
        {
            applied = _applied;
        }

        return _checkpoints.WriteAsync(applied, cancellationToken);
    }
}
