namespace Dropbox.SyncClient.Local;

/// <summary>
/// The folders of one batch of downloads, each opened once (<see cref="FolderHandle"/>: from the sync folder down, no
/// link followed) and kept open until the batch's files are in place; missing folders are made on the way, relative to
/// the open folder above them, so none is made through a link either.
/// </summary>
internal sealed class FolderHandles : IDisposable
{
    private readonly FolderHandle _root;
    private readonly Dictionary<string, FolderHandle?> _open = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FolderHandle> _madeIn = new(StringComparer.Ordinal);
    private readonly HashSet<FolderHandle> _keptForMadeIn = new(ReferenceEqualityComparer.Instance);

    private FolderHandles(FolderHandle root) => _root = root;

    /// <summary>The folders under <paramref name="root"/> (the sync folder); null where folders cannot be opened this way.</summary>
    /// <exception cref="IOException">The sync folder cannot be opened.</exception>
    public static FolderHandles? TryOpen(string root) => FolderHandle.TryOpenRoot(root) is { } handle ? new FolderHandles(handle) : null;

    /// <summary>
    /// The folder <paramref name="relative"/> ('/'-separated, empty for the sync folder), opened or made: null when a
    /// folder on the way is a link or not a folder (also the next time it is asked for in this batch). Each folder this
    /// call makes has the path of the folder holding its entry added to <paramref name="madeIn"/>.
    /// </summary>
    /// <remarks>
    /// Only the folders asked for stay open (at most one per file of the batch, as its temp files are); the folders
    /// walked through to reach them are closed again, so a deep tree does not hold a descriptor for every folder on the way.
    /// </remarks>
    public FolderHandle? Get(string relative, List<string> madeIn)
    {
        if (relative.Length == 0)
        {
            return _root;
        }

        if (_open.TryGetValue(relative, out var known))
        {
            return known;
        }

        var folder = Walk(relative, madeIn);
        _open[relative] = folder;
        return folder;
    }

    /// <summary>
    /// Every folder this batch made a folder in, by relative path ('/'-separated, empty for the sync folder), held open:
    /// each is synced before any file of the batch is recorded, whichever file made the folder (that one may have failed
    /// while a later file in the new folder is recorded), and the sync names the folder that holds the new entry.
    /// </summary>
    public IReadOnlyDictionary<string, FolderHandle> MadeIn => _madeIn;

    /// <summary>
    /// True when <paramref name="relative"/>, walked again from the sync folder without following a link (and without
    /// making anything), still leads to <paramref name="folder"/> (same device and inode): then what was renamed into
    /// that folder is at the path a record would name. False when the path is gone, a link, or another folder.
    /// </summary>
    /// <exception cref="IOException">A folder on the way, or the folder's identity, could not be read.</exception>
    public bool IsStillAt(string relative, FolderHandle folder)
    {
        if (relative.Length == 0)
        {
            return ReferenceEquals(folder, _root) || SameFolder(folder, _root);
        }

        var current = _root;
        try
        {
            foreach (var name in relative.Split('/'))
            {
                var next = current.TryOpenChild(name, out _);
                if (!ReferenceEquals(current, _root))
                {
                    current.Dispose();
                }

                current = next;
                if (current is null)
                {
                    return false;
                }
            }

            return SameFolder(current, folder);
        }
        finally
        {
            if (current is not null && !ReferenceEquals(current, _root))
            {
                current.Dispose();
            }
        }
    }

    /// <summary>True when both are known to be one folder, or either's identity cannot be read (see <see cref="IsStillAt"/>).</summary>
    private static bool SameFolder(FolderHandle a, FolderHandle b) => a.TryIdentity() is not { } x || b.TryIdentity() is not { } y || x == y;

    /// <summary>Opens <paramref name="relative"/> one name at a time from the deepest folder above it already open.</summary>
    private FolderHandle? Walk(string relative, List<string> madeIn)
    {
        var start = _root;
        var index = 0;
        for (var slash = relative.LastIndexOf('/'); slash > 0; slash = relative.LastIndexOf('/', slash - 1))
        {
            if (_open.TryGetValue(relative[..slash], out var above))
            {
                if (above is null)
                {
                    return null; // refused above: refused here too
                }

                start = above;
                index = slash + 1;
                break;
            }
        }

        var current = start;
        while (true)
        {
            var slash = relative.IndexOf('/', index);
            var name = slash < 0 ? relative[index..] : relative[index..slash];
            FolderHandle? next;
            try
            {
                next = current.TryOpenChild(name, out var missing);
                if (next is null && missing)
                {
                    current.MakeFolder(name);
                    madeIn.Add(current.FullPath);
                    var at = index == 0 ? string.Empty : relative[..(index - 1)];
                    if (_madeIn.TryAdd(at, current) && !ReferenceEquals(current, start))
                    {
                        _keptForMadeIn.Add(current); // its new entry is synced before any record: kept open till then
                    }

                    next = current.TryOpenChild(name, out _);
                }
            }
            finally
            {
                if (!ReferenceEquals(current, start) && !_keptForMadeIn.Contains(current))
                {
                    current.Dispose(); // only walked through
                }
            }

            if (next is null || slash < 0)
            {
                return next;
            }

            current = next;
            index = slash + 1;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var folder in _open.Values)
        {
            folder?.Dispose();
        }

        foreach (var folder in _keptForMadeIn)
        {
            folder.Dispose();
        }

        _root.Dispose();
    }
}
