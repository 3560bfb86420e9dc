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
                    next = current.TryOpenChild(name, out _);
                }
            }
            finally
            {
                if (!ReferenceEquals(current, start))
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

        _root.Dispose();
    }
}
