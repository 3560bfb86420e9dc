using Dropbox.Shared.Hosting;
using Dropbox.StorageNode.Store;
using Microsoft.Extensions.Logging;

namespace Dropbox.StorageNode.Cluster;

/// <summary>
/// Re-hashes every stored chunk every <see cref="StorageNodeOptions.ScrubInterval"/> (weekly by default), so bit
/// rot is found while other replicas still hold good copies, not when a user downloads. Corrupt chunks are
/// quarantined (never served again) and logged; the metadata node's commit-time verification then asks for them
/// to be uploaded again.
/// </summary>
public sealed partial class ScrubService : PeriodicWorkService
{
    private readonly StorageNodeOptions _options;
    private readonly ChunkStore _store;
    private readonly ILogger<ScrubService> _logger;

    /// <summary>Creates the service.</summary>
    public ScrubService(StorageNodeOptions options, ChunkStore store, ILogger<ScrubService> logger)
    {
        _options = options;
        _store = store;
        _logger = logger;
    }

    /// <summary>Scrubs completed since start (for tests and stats).</summary>
    public int Completed => Volatile.Read(ref _completed);

    private int _completed;

    /// <inheritdoc />
    protected override TimeSpan Interval => _options.ScrubInterval;

    /// <inheritdoc />
    protected override async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        var result = await _store.ScrubAsync(cancellationToken).ConfigureAwait(false);
        if (result.Corrupt.Count > 0)
        {
            Log.FoundCorrupt(_logger, result.Checked, result.Corrupt.Count, string.Join(", ", result.Corrupt.Take(10).Select(c => c.ToShortString())));
        }
        else
        {
            Log.Clean(_logger, result.Checked);
        }

        Interlocked.Increment(ref _completed);
    }

    /// <inheritdoc />
    protected override void OnRunFailed(Exception exception) => Log.ScrubFailed(_logger, exception);

    private static partial class Log
    {
        [LoggerMessage(EventId = 2210, Level = LogLevel.Information, Message = "Scheduled scrub checked {Checked} chunks; all intact")]
        public static partial void Clean(ILogger logger, long @checked);

        [LoggerMessage(EventId = 2211, Level = LogLevel.Error, Message = "Scheduled scrub checked {Checked} chunks and quarantined {Corrupt} corrupt ones: {Chunks}")]
        public static partial void FoundCorrupt(ILogger logger, long @checked, int corrupt, string chunks);

        [LoggerMessage(EventId = 2212, Level = LogLevel.Error, Message = "Scheduled scrub failed")]
        public static partial void ScrubFailed(ILogger logger, Exception exception);
    }
}
