using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The plain new remote files of a pass: live files the server has that this client never synced, with nothing at
/// their path here, not moved, not ignored, not under a path that is a file on some side (a kind clash is the
/// planner's to skip). Each can only be downloaded as new, so they are taken out of the remote
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
                && !index.ContainsKey(path) && !local.Entries.ContainsKey(path) && !local.IsWithheld(path) && !remote.IsRefused(path) && !local.Ignore.IsIgnored(path, isDirectory: false)
                && !UnderAFile(path, remote, index, local))
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

    /// <summary>
    /// True when a folder above <paramref name="path"/> is a file on some side (here, in the db or remotely): perhaps a
    /// kind clash, which the planner skips with everything under it (a download there could never make its folder).
    /// </summary>
    internal static bool UnderAFile(string path, RemoteView remote, Dictionary<string, BaseStat> index, LocalSnapshot? local)
    {
        for (var slash = path.LastIndexOf('/'); slash > 0; slash = path.LastIndexOf('/', slash - 1))
        {
            var parent = path[..slash];
            if ((remote.Changes.TryGetValue(parent, out var r) && r is { Deleted: false, Kind: FileKind.File })
                || (index.TryGetValue(parent, out var b) && b.Kind == FileKind.File)
                || (local is not null && local.Entries.TryGetValue(parent, out var l) && l.Kind == FileKind.File))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The paths, in listing order.</summary>
    public IReadOnlyList<string> Paths => _paths;

    /// <summary>The paths with the sizes the server listed, in listing order.</summary>
    public IReadOnlyList<(string Path, long Size)> Files => _paths.Select((p, i) => (p, _sizes[i])).ToList();
}
