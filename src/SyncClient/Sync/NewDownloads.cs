using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The plain new remote files of a pass: live files the server has that this client never synced, with nothing at
/// their path here, not moved, not ignored. Each can only be downloaded as new, so they are taken out of the remote
/// view before planning: the pass keeps a path per file (not a remote entry and an action) and downloads them after
/// the planned work. A first sync of a large account is almost all such files.
/// </summary>
internal sealed class NewDownloads
{
    private readonly List<string> _paths = [];
    private readonly List<long> _sizes = [];

    public int Count => _paths.Count;

    public long Bytes { get; private set; }

    /// <summary>Moves the plain new files out of <paramref name="remote"/>.</summary>
    public static NewDownloads Take(RemoteView remote, Dictionary<string, BaseStat> index, LocalSnapshot local)
    {
        var taken = new NewDownloads();
        foreach (var (path, entry) in remote.Changes)
        {
            if (entry is { Kind: FileKind.File, Deleted: false, MovedFrom: null, MovedTo: null }
                && !index.ContainsKey(path) && !local.Entries.ContainsKey(path) && !local.IsWithheld(path) && !remote.IsRefused(path) && !local.Ignore.IsIgnored(path, isDirectory: false))
            {
                taken._paths.Add(path);
                taken._sizes.Add(entry.Size);
                taken.Bytes = RemoteBounds.AddSaturating(taken.Bytes, entry.Size);
            }
        }

        foreach (var path in taken._paths)
        {
            remote.Changes.Remove(path);
        }

        if (taken._paths.Count > 0)
        {
            remote.Changes.TrimExcess();
        }

        return taken;
    }

    /// <summary>The paths, in listing order.</summary>
    public IReadOnlyList<string> Paths => _paths;

    /// <summary>The paths with the sizes the server listed, in listing order.</summary>
    public IReadOnlyList<(string Path, long Size)> Files => _paths.Select((p, i) => (p, _sizes[i])).ToList();
}
