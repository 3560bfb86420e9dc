namespace Dropbox.SyncClient.Local;

/// <summary>
/// The observation of whether a file may still be being written, made by the scan (and again right before a case-clash
/// rename); the planner decides what follows from it (see <c>SyncPlanner.Waits</c>). A file whose mtime is older than
/// the stable age, or far in the future (clock skew, an unpacked archive: not a write under way), is settled. A younger
/// one the daemon's watcher saw is settled once neither a watcher event nor a write touched it for the quiet period;
/// one with no watcher evidence (<c>sync --once</c>, a write before the watcher started or lost in an overflow) must
/// reach the stable age. Either way the upload re-checks the file right before its commit and commits nothing that
/// changed since it was read.
/// </summary>
internal sealed partial class Stability(TimeProvider time, TimeSpan stableAge, WatchedChanges? watched, TimeSpan quietPeriod)
{
    /// <summary>No stability rule (a stable age of zero): every file is settled. For a scan nothing is synced from.</summary>
    public static Stability Off { get; } = new(TimeProvider.System, TimeSpan.Zero, null, TimeSpan.Zero);

    /// <summary>
    /// The observation of the file at <paramref name="path"/> (relative) with this mtime, read from the clock now: null
    /// when it is settled, else how soon it could be judged settled if nothing touches it (always more than zero).
    /// </summary>
    public TimeSpan? SettlesIn(string path, long mtimeTicks) => IsUnsettled(path, mtimeTicks, out var settlesIn) ? settlesIn : null;

    /// <summary>
    /// True when the file at <paramref name="path"/> (relative) with this mtime may still be changing;
    /// <paramref name="settlesIn"/> then says how soon it could be judged settled if nothing touches it.
    /// </summary>
    public bool IsUnsettled(string path, long mtimeTicks, out TimeSpan settlesIn)
    {
        settlesIn = TimeSpan.Zero;
        if (stableAge <= TimeSpan.Zero)
        {
            return false;
        }

        var age = time.GetUtcNow().UtcDateTime - new DateTime(mtimeTicks, DateTimeKind.Utc);
        if (age >= stableAge || age <= -stableAge)
        {
            return false;
        }

        if (watched?.SinceLastEvent(path) is { } sinceEvent)
        {
            var quiet = quietPeriod < stableAge ? quietPeriod : stableAge;
            if (sinceEvent >= quiet && age >= quiet)
            {
                return false;
            }

            var byEvent = quiet - sinceEvent;
            var byWrite = quiet - age;
            settlesIn = byEvent > byWrite ? byEvent : byWrite;
            return true;
        }

        settlesIn = stableAge - age;
        return true;
    }
}
