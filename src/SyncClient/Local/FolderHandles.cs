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

        var slash = relative.LastIndexOf('/');
        var parent = Get(slash < 0 ? string.Empty : relative[..slash], madeIn);
        FolderHandle? folder = null;
        if (parent is not null)
        {
            var name = relative[(slash + 1)..];
            folder = parent.TryOpenChild(name, out var missing);
            if (folder is null && missing)
            {
                parent.MakeFolder(name);
                madeIn.Add(parent.FullPath);
                folder = parent.TryOpenChild(name, out _);
            }
        }

        _open[relative] = folder;
        return folder;
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
