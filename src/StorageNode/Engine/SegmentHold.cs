namespace Dropbox.StorageNode.Engine;

/// <summary>
/// Compaction and scrub held off (so no segment file is rewritten, quarantined from or deleted) until disposed; the
/// segment files as they were when the hold began. Sealed segments are immutable, so a snapshot may link them.
/// </summary>
public sealed class SegmentHold : IDisposable
{
    private Action? _release;

    internal SegmentHold(IReadOnlyList<SegmentFile> segments, Action release)
    {
        Segments = segments;
        _release = release;
    }

    /// <summary>Every segment file, oldest first; the last is the active one.</summary>
    public IReadOnlyList<SegmentFile> Segments { get; }

    /// <summary>Lets compaction and scrub run again.</summary>
    public void Dispose() => Interlocked.Exchange(ref _release, null)?.Invoke();
}
