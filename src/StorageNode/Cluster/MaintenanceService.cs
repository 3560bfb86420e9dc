using Dropbox.Shared.Hosting;
using Dropbox.StorageNode.Store;
using Microsoft.Extensions.Logging;

namespace Dropbox.StorageNode.Cluster;

/// <summary>Runs compaction every <see cref="StorageNodeOptions.CompactionInterval"/> in the background.</summary>
public sealed partial class MaintenanceService : PeriodicWorkService
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
    protected override TimeSpan Interval => _options.CompactionInterval;

    /// <inheritdoc />
    protected override Task RunOnceAsync(CancellationToken cancellationToken) => _store.CompactAsync(cancellationToken);

    /// <inheritdoc />
    protected override void OnRunFailed(Exception exception) => Log.CompactionFailed(_logger, exception);

    private static partial class Log
    {
        [LoggerMessage(EventId = 2200, Level = LogLevel.Error, Message = "Background compaction failed")]
        public static partial void CompactionFailed(ILogger logger, Exception exception);
    }
}
