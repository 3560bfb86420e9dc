using Microsoft.Extensions.Hosting;

namespace Dropbox.Shared.Hosting;

/// <summary>
/// A background service that runs one unit of work every <see cref="Interval"/> (none when the interval is
/// zero or negative). A failed run is reported and the next tick runs again; stopping is not a failure.
/// </summary>
public abstract class PeriodicWorkService : BackgroundService
{
    /// <summary>Time between runs; zero or negative turns the service off.</summary>
    protected abstract TimeSpan Interval { get; }

    /// <summary>One run of the work.</summary>
    protected abstract Task RunOnceAsync(CancellationToken cancellationToken);

    /// <summary>Reports a failed run (log it); the service keeps going.</summary>
    protected abstract void OnRunFailed(Exception exception);

    /// <inheritdoc />
    protected sealed override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (Interval <= TimeSpan.Zero)
        {
            return;
        }

        using var timer = new PeriodicTimer(Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    await RunOnceAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    OnRunFailed(ex);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
