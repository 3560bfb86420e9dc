using Dropbox.MetadataNode.Domain;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Services;

/// <summary>Runs retention and garbage collection every <see cref="MetadataNodeOptions.GcInterval"/>.</summary>
internal sealed class GarbageCollectorService : BackgroundService
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

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_options.GcInterval <= TimeSpan.Zero)
        {
            return;
        }

        using var timer = new PeriodicTimer(_options.GcInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    await _store.RunGcOnceAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.GcFailed(_logger, ex);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
