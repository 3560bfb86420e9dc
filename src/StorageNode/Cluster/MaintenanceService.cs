using Dropbox.StorageNode.Store;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Dropbox.StorageNode.Cluster;

/// <summary>Runs compaction periodically in the background.</summary>
public sealed partial class MaintenanceService : BackgroundService
{
    private readonly StorageNodeOptions _options;
    private readonly ChunkStore _store;
    private readonly ILogger<MaintenanceService> _logger;

    /// <summary>Creates the service.</summary>
    public MaintenanceService(StorageNodeOptions options, ChunkStore store, ILogger<MaintenanceService> logger)
    {
        _options = options;
        _store = store;
        _logger = logger;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_options.CompactionInterval <= TimeSpan.Zero)
        {
            return;
        }

        using var timer = new PeriodicTimer(_options.CompactionInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    await _store.CompactAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.CompactionFailed(_logger, ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2200, Level = LogLevel.Error, Message = "Background compaction failed")]
        public static partial void CompactionFailed(ILogger logger, Exception exception);
    }
}
