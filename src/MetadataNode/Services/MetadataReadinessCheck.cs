using System.Globalization;
using Dropbox.MetadataNode.Domain;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Dropbox.MetadataNode.Services;

/// <summary>
/// The metadata node is ready while its RocksDB store is open and it is not shutting down. Storage nodes register
/// through the same address, so their absence is reported in the description but does not make the node unready
/// (a balancer that took it out of rotation would keep them from ever registering).
/// </summary>
internal sealed class MetadataReadinessCheck : IHealthCheck
{
    private readonly MetadataStore _store;
    private readonly IHostApplicationLifetime _lifetime;

    public MetadataReadinessCheck(MetadataStore store, IHostApplicationLifetime lifetime)
    {
        _store = store;
        _lifetime = lifetime;
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (_lifetime.ApplicationStopping.IsCancellationRequested)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("the node is shutting down"));
        }

        if (!_store.IsOpen)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("the RocksDB store is closed"));
        }

        var live = _store.LiveNodes().Count;
        return Task.FromResult(HealthCheckResult.Healthy(string.Create(CultureInfo.InvariantCulture, $"{live} live storage node(s) of {_store.RegisteredNodeCount} registered")));
    }
}
