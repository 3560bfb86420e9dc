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

    public GarbageCollectorService(MetadataStore store, MetadataNodeOptions options, ILogger<GarbageCollectorService> logger)
    {
        _store = store;
        _options = options;
        _logger = logger;
    }

    protected override TimeSpan Interval => _options.GcInterval;

    protected override Task RunOnceAsync(CancellationToken cancellationToken) => _store.RunGcOnceAsync(cancellationToken);

    protected override void OnRunFailed(Exception exception) => Log.GcFailed(_logger, exception);
}
