using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Hosting;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Services;

/// <summary>Runs retention and garbage collection every <see cref="MetadataNodeOptions.GcInterval"/>.</summary>
internal sealed class GarbageCollectorService : PeriodicWorkService
{
    private readonly MetadataStore _store;
    private readonly MetadataNodeOptions _options;
    private readonly ILogger<GarbageCollectorService> _logger;
    private readonly MetadataMetrics _metrics;

    public GarbageCollectorService(MetadataStore store, MetadataNodeOptions options, MetadataMetrics metrics, ILogger<GarbageCollectorService> logger)
    {
        _store = store;
        _metrics = metrics;
        _options = options;
        _logger = logger;
    }

    protected override TimeSpan Interval => _options.GcInterval;

    protected override async Task RunOnceAsync(CancellationToken cancellationToken) =>
        _metrics.GcPass(await _store.RunGcOnceAsync(cancellationToken).ConfigureAwait(false));

    protected override void OnRunFailed(Exception exception) => Log.GcFailed(_logger, exception);
}
