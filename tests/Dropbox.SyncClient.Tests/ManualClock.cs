namespace Dropbox.SyncClient.Tests;

/// <summary>A clock that moves only when told (stands in for the system clock).</summary>
internal sealed class ManualClock : TimeProvider
{
    private long _ticks = TimeSpan.TicksPerDay;
    private Action? _beforeNextTimestamp;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp()
    {
        Interlocked.Exchange(ref _beforeNextTimestamp, null)?.Invoke();
        return Interlocked.Read(ref _ticks);
    }

    public override DateTimeOffset GetUtcNow() => new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddTicks(Interlocked.Read(ref _ticks));

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);

    /// <summary>
    /// Runs <paramref name="act"/> once, at the next read of the monotonic clock (before it answers): a test's chance to
    /// act at a known point of a pass, such as the watcher's clock read while a file is observed.
    /// </summary>
    public void BeforeNextTimestamp(Action act) => Volatile.Write(ref _beforeNextTimestamp, act);
}
