namespace Dropbox.SyncClient.Tests.Simulation;

/// <summary>
/// The simulation's clock: it moves only when told, and a timer never waits. A wait the engine starts (a retry's
/// pause, a stability wait) jumps the clock forward by its length and fires at once, as Trinity fast-forwards its
/// mocked timer: no real sleep, and the same seed sees the same times.
/// </summary>
internal sealed class SimClock : TimeProvider
{
    /// <summary>Far from the machine's real clock, so files the engine stamps with real time are never "just written" in simulated time.</summary>
    private static readonly DateTimeOffset Origin = new(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private long _ticks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Interlocked.Read(ref _ticks);

    public override DateTimeOffset GetUtcNow() => Origin.AddTicks(Interlocked.Read(ref _ticks));

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    /// <summary>Total time jumped by timers (waits the engine asked for).</summary>
    public TimeSpan Jumped => TimeSpan.FromTicks(Interlocked.Read(ref _jumped));

    private long _jumped;

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, Math.Max(1, by.Ticks));

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new JumpTimer(this, callback, state, dueTime);

    private void Jump(TimeSpan by)
    {
        Interlocked.Add(ref _ticks, Math.Max(0, by.Ticks));
        Interlocked.Add(ref _jumped, Math.Max(0, by.Ticks));
    }

    /// <summary>Fires once per Change with a finite due time, after moving the clock by it; periods are not simulated.</summary>
    private sealed class JumpTimer : ITimer
    {
        private readonly Lock _gate = new();
        private readonly SimClock _clock;
        private readonly TimerCallback _callback;
        private readonly object? _state;
        private int _version;
        private bool _disposed;

        public JumpTimer(SimClock clock, TimerCallback callback, object? state, TimeSpan dueTime)
        {
            _clock = clock;
            _callback = callback;
            _state = state;
            Change(dueTime, Timeout.InfiniteTimeSpan);
        }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            int version;
            lock (_gate)
            {
                if (_disposed)
                {
                    return false;
                }

                version = ++_version;
            }

            if (dueTime == Timeout.InfiniteTimeSpan)
            {
                return true;
            }

            _clock.Jump(dueTime);
            ThreadPool.UnsafeQueueUserWorkItem(_ =>
            {
                lock (_gate)
                {
                    if (_disposed || version != _version)
                    {
                        return;
                    }
                }

                _callback(_state);
            }, null);
            return true;
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _disposed = true;
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
