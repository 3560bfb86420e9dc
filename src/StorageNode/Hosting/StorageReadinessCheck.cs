using Dropbox.StorageNode.Store;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Dropbox.StorageNode.Hosting;

/// <summary>
/// A storage node is ready while its engine takes writes (it stops after a failed fsync, see
/// <see cref="Engine.IChunkEngine.WriteFault"/>) and it is not shutting down.
/// </summary>
public sealed class StorageReadinessCheck : IHealthCheck
{
    private readonly ChunkStore _store;
    private readonly IHostApplicationLifetime _lifetime;

    /// <summary>Creates the check.</summary>
    public StorageReadinessCheck(ChunkStore store, IHostApplicationLifetime lifetime)
    {
        _store = store;
        _lifetime = lifetime;
    }

    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (_lifetime.ApplicationStopping.IsCancellationRequested)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("the node is shutting down"));
        }

        if (_store.Engine.WriteFault is { } fault)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy($"the chunk engine stopped taking writes after a failed write ({fault.Message}); reads go on, restart the node to recover from what is on disk"));
        }

        return Task.FromResult(HealthCheckResult.Healthy($"node {_store.NodeId}"));
    }
}
