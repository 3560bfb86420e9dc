using Dropbox.MetadataNode.Domain;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Services;

/// <summary>
/// Runs retention and garbage collection every <see cref="MetadataNodeOptions.GcInterval"/> (none when it is zero), and
/// in between, as soon as a storage node comes back, finishes the deletions that node still owes
/// (<see cref="MetadataStore.FinishOwedDeletionsAsync"/>): until they are done, uploads put on that node are refused.
/// A failed run is logged and the next one runs again; stopping is not a failure.
/// </summary>
internal sealed class GarbageCollectorService : BackgroundService
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

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_options.GcInterval <= TimeSpan.Zero)
        {
            return;
        }

        using var timer = new PeriodicTimer(_options.GcInterval);
        try
        {
            var tick = timer.WaitForNextTickAsync(stoppingToken).AsTask();
            while (true)
            {
                stoppingToken.ThrowIfCancellationRequested();

                // Taken before the run: a node back while it runs wakes the next one. Waited on as it is, not through
                // WaitAsync(stoppingToken): that left one pending task per tick while no node came back (the tick ends
                // on stopping, and WhenAny drops its continuation on the signal once the tick wins).
                var returns = _store.NodeReturns;
                await RunAsync(() => _store.FinishOwedDeletionsAsync(stoppingToken), pass: false, stoppingToken).ConfigureAwait(false);
                if (await Task.WhenAny(tick, returns).ConfigureAwait(false) != tick)
                {
                    continue;
                }

                if (!await tick.ConfigureAwait(false))
                {
                    return;
                }

                tick = timer.WaitForNextTickAsync(stoppingToken).AsTask();
                await RunAsync(() => _store.RunGcOnceAsync(stoppingToken), pass: true, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task RunAsync(Func<Task<GcResult>> run, bool pass, CancellationToken stoppingToken)
    {
        try
        {
            var result = await run().ConfigureAwait(false);
            if (pass)
            {
                _metrics.GcPass(result);
            }
            else if (result.DeletedChunks > 0 || result.FailedChunks > 0)
            {
                _metrics.GcOwedRun(result);
            }
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            // A node call timing out (a cancellation of its own) fails the run, not the service.
            Log.GcFailed(_logger, ex);
        }
    }
}
