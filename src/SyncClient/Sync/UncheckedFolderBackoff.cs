namespace Dropbox.SyncClient.Sync;

/// <summary>
/// When each clashing folder the walk before its rename could not look at whole (past its bound: a folder of more than
/// 100,000 entries) is walked again. Each such walk reads up to the bound and finds the same, so a fixed recheck would
/// cost a full walk (and a pass) every minute for as long as the folder stays: the wait doubles per folder from
/// <see cref="First"/> up to <see cref="Max"/>, and no pass walks it before then, whatever else woke the daemon. Shared
/// by every engine of one daemon (<see cref="SyncContext.UncheckedFolders"/>); memory only, so a restart starts at
/// <see cref="First"/> again. A folder renamed by hand (the note says so) leaves the clash and is forgotten.
/// </summary>
internal sealed class UncheckedFolderBackoff
{
    /// <summary>The first wait after a walk could not look at a folder whole.</summary>
    public static readonly TimeSpan First = TimeSpan.FromMinutes(1);

    /// <summary>The longest wait: a folder that becomes checkable (trimmed below the bound) is renamed within it.</summary>
    public static readonly TimeSpan Max = TimeSpan.FromHours(1);

    /// <summary>
    /// Most paths remembered (a folder, or a file that could not be read: a tree extracted with modes the client cannot
    /// read may hold thousands). Full, a new path makes room by forgetting those whose wait is over (they are looked at
    /// on this pass anyway); if none is, the new path is not remembered (it starts at its first wait each time), so the
    /// paths already waiting keep their long waits.
    /// </summary>
    internal const int DefaultCapacity = 100_000;

    private readonly int _capacity;

    private readonly Lock _lock = new();
    /// <summary>Read errors in a row under a folder that are looked at again as soon as a folder being written.</summary>
    public const int ReadErrorRetries = 3;

    private readonly Dictionary<string, (TimeSpan Delay, long Since, int ReadErrors)> _folders = new(StringComparer.Ordinal);

    /// <summary>A timestamp before which no wait in the table ends (0: not known; set when a full table was looked at).</summary>
    private long _fullUntil;

    public UncheckedFolderBackoff(int capacity = DefaultCapacity) => _capacity = capacity;

    /// <summary>How long the folder at <paramref name="path"/> still waits before it is walked again (null: walk it now).</summary>
    public TimeSpan? WaitLeft(string path, TimeProvider time)
    {
        lock (_lock)
        {
            if (!_folders.TryGetValue(path, out var wait))
            {
                return null;
            }

            var left = wait.Delay - time.GetElapsedTime(wait.Since);
            return left > TimeSpan.Zero ? left : null;
        }
    }

    /// <summary>Notes that the walk could not look at the folder whole again; returns how long it now waits.</summary>
    public TimeSpan Missed(string path, TimeProvider time)
    {
        lock (_lock)
        {
            var had = _folders.TryGetValue(path, out var last);
            return Note(path, had ? Doubled(last.Delay) : First, readErrors: 0, had, time);
        }
    }

    /// <summary>
    /// Notes that a walk of the folder met a read error; returns when to look again: <paramref name="retry"/> for the
    /// first <see cref="ReadErrorRetries"/> in a row (a subfolder gone mid-walk, a tree being moved, is likely gone the
    /// next time), then as <see cref="Missed"/> (1 min, doubling to 1 h): an error that stays (a folder the client may
    /// not read, a name it cannot open) would otherwise cost a walk and a pass every <paramref name="retry"/> forever.
    /// </summary>
    public TimeSpan ReadError(string path, TimeProvider time, TimeSpan retry)
    {
        lock (_lock)
        {
            var had = _folders.TryGetValue(path, out var last);
            var errors = had ? last.ReadErrors + 1 : 1;
            return Note(path, errors <= ReadErrorRetries ? retry : Doubled(last.Delay), errors, had, time);
        }
    }

    /// <summary>The wait after <paramref name="last"/>: twice it, at least <see cref="First"/>, at most <see cref="Max"/>.</summary>
    private static TimeSpan Doubled(TimeSpan last) => last < First ? First : last * 2 < Max ? last * 2 : Max;

    /// <summary>Records the path's wait from now (under the lock); the table is bounded (see <see cref="DefaultCapacity"/>).</summary>
    private TimeSpan Note(string path, TimeSpan delay, int readErrors, bool had, TimeProvider time)
    {
        if (!had && _folders.Count >= _capacity)
        {
            // Full with no wait over: no look at the table until the soonest wait ends (else every path turned away would
            // look at all of it, quadratic past the capacity).
            var now = time.GetTimestamp();
            if (now < _fullUntil)
            {
                return delay;
            }

            var soonest = long.MaxValue;
            foreach (var (over, wait) in _folders.ToList())
            {
                var ends = Ends(wait.Since, wait.Delay, time);
                if (ends <= now)
                {
                    _folders.Remove(over);
                }
                else
                {
                    soonest = Math.Min(soonest, ends);
                }
            }

            if (_folders.Count >= _capacity)
            {
                _fullUntil = soonest;
                return delay;
            }
        }

        var since = time.GetTimestamp();
        _folders[path] = (delay, since, readErrors);
        _fullUntil = Math.Min(_fullUntil, Ends(since, delay, time)); // still: no wait ends before it
        return delay;
    }

    /// <summary>The timestamp at which a wait of <paramref name="delay"/> from <paramref name="since"/> ends.</summary>
    private static long Ends(long since, TimeSpan delay, TimeProvider time) => since + (long)(delay.TotalSeconds * time.TimestampFrequency);

    /// <summary>Forgets the folder: its walk looked at it whole.</summary>
    public void Forget(string path)
    {
        lock (_lock)
        {
            _folders.Remove(path);
        }
    }
}
