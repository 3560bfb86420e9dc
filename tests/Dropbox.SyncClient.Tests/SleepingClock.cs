namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The system clock, except that <see cref="Sleep"/> moves the wall clock on while the monotonic clock (timers,
/// timestamps) stands: what a suspended machine looks like to a process once it wakes.
/// </summary>
internal sealed class SleepingClock : TimeProvider
{
    private long _offsetTicks;

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow().AddTicks(Interlocked.Read(ref _offsetTicks));

    public void Sleep(TimeSpan duration) => Interlocked.Add(ref _offsetTicks, duration.Ticks);
}
