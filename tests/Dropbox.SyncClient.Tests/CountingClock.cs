namespace Dropbox.SyncClient.Tests;

/// <summary>The system clock, counting how often the time is read.</summary>
internal sealed class CountingClock : TimeProvider
{
    private int _reads;

    public int Reads => Volatile.Read(ref _reads);

    public override DateTimeOffset GetUtcNow()
    {
        Interlocked.Increment(ref _reads);
        return base.GetUtcNow();
    }
}
