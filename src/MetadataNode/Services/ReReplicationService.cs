using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Domain.Replication;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Services;

/// <summary>
/// Runs <see cref="ReReplicator"/> passes: every <see cref="MetadataNodeOptions.ReplicationInterval"/> while the last
/// pass left work, at once when the set of healthy nodes changes (a node declared dead, drained, back) or a node reports
/// corrupt chunks (its scrub quarantined them: an intact replica is copied back), and at least
/// once a minute (a put that reached only some of its nodes). Passes that order copies but make none (every source or
/// target failing) back off, doubling up to a minute (<see cref="RetryDelay"/>). Waits one node timeout after start
/// first, so nodes that have not heartbeated since a restart are not taken for dead.
/// </summary>
internal sealed partial class ReReplicationService : BackgroundService
{
    private static readonly TimeSpan FullScanEvery = TimeSpan.FromMinutes(1);
    private readonly ReReplicator _replicator;
    private readonly MetadataStore _store;
    private readonly MetadataNodeOptions _options;
    private readonly MetadataMetrics _metrics;
    private readonly ILogger<ReReplicationService> _logger;

    public ReReplicationService(ReReplicator replicator, MetadataStore store, MetadataNodeOptions options, MetadataMetrics metrics, ILogger<ReReplicationService> logger)
    {
        _replicator = replicator;
        _store = store;
        _options = options;
        _metrics = metrics;
        _logger = logger;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_options.ReplicationInterval <= TimeSpan.Zero)
        {
            return;
        }

        try
        {
            await Task.Delay(_options.NodeTimeout, stoppingToken).ConfigureAwait(false);
            string? lastKey = null;
            var lastRepairs = _store.RepairRequests;
            var leftWork = true;
            var fruitless = 0;
            var lastScan = DateTime.MinValue;
            while (!stoppingToken.IsCancellationRequested)
            {
                var key = _store.NodeStates().HealthKey();
                var repairs = _store.RepairRequests;
                var sinceScan = DateTime.UtcNow - lastScan;
                if ((leftWork && sinceScan >= RetryDelay(_options.ReplicationInterval, fruitless)) || key != lastKey || repairs != lastRepairs || sinceScan > FullScanEvery)
                {
                    lastKey = key;
                    lastRepairs = repairs;
                    lastScan = DateTime.UtcNow;
                    try
                    {
                        var result = await _replicator.RunPassAsync(stoppingToken).ConfigureAwait(false);
                        leftWork = result.Planned > 0 || result.AwaitingEvents > 0;
                        fruitless = result.Planned > 0 && result.Copied == 0 ? fruitless + 1 : 0;
                        if (result.Copied > 0)
                        {
                            _metrics.ReplicationPass(result);
                        }
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        leftWork = true;
                        fruitless++;
                        LogPassFailed(_logger, ex);
                    }

                    _metrics.InvalidateUnderReplicated();
                }

                await Task.Delay(_options.ReplicationInterval, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Wait before the next pass after <paramref name="fruitless"/> passes in a row that copied nothing: doubling, at most a minute.</summary>
    internal static TimeSpan RetryDelay(TimeSpan interval, int fruitless) =>
        fruitless <= 0 ? TimeSpan.Zero : TimeSpan.FromTicks(Math.Min(FullScanEvery.Ticks, interval.Ticks << Math.Min(fruitless - 1, 10)));

    [LoggerMessage(EventId = 4053, Level = LogLevel.Error, Message = "Re-replication pass failed")]
    private static partial void LogPassFailed(ILogger logger, Exception exception);
}
