using System.Collections.Concurrent;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// The daemon's watcher evidence: when the folder watcher last saw each path change (relative paths, as the
/// scanner spells them). A file the watcher saw is judged by the quiet period (no event and no write for that
/// long means the writer paused or finished); a path it never saw, or lost after a dropped-events overflow, has no
/// evidence and falls back to the stable-age rule. Thread-safe: the watcher records from its own thread while a
/// pass reads.
/// </summary>
internal sealed class WatchedChanges(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, long> _lastEvent = new(StringComparer.Ordinal);

    /// <summary>Paths with evidence held now.</summary>
    public int Count => _lastEvent.Count;

    /// <summary>Notes that the watcher just saw <paramref name="relativePath"/> change.</summary>
    public void Saw(string relativePath) => _lastEvent[relativePath] = time.GetTimestamp();

    /// <summary>How long ago the watcher last saw the path change, or null when it has no evidence for it.</summary>
    public TimeSpan? SinceLastEvent(string relativePath) =>
        _lastEvent.TryGetValue(relativePath, out var at) ? time.GetElapsedTime(at) : null;

    /// <summary>Drops all evidence: the watcher lost events (overflow), so what it saw is no longer the whole story.</summary>
    public void Forget() => _lastEvent.Clear();

    /// <summary>Drops evidence older than <paramref name="age"/>: past the stable age it decides nothing.</summary>
    public void Prune(TimeSpan age)
    {
        foreach (var entry in _lastEvent)
        {
            if (time.GetElapsedTime(entry.Value) > age)
            {
                _lastEvent.TryRemove(entry);
            }
        }
    }
}
