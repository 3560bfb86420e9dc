using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// What <see cref="PlannerFastPaths.IsPlainNewFile"/> reads: the synced tree (in its small form), the remote changes and
/// the refused paths, as the pass holds them (not copies: a scan's callback sees the remote view as it is when a file
/// is found), and two views derived from them once per pass (the sizes of the tracked files, the case-folded remote names).
/// </summary>
internal sealed class NewFileTrees
{
    public NewFileTrees(IReadOnlyDictionary<string, BaseStat> synced, IReadOnlyDictionary<string, RemoteEntry> remote, IReadOnlySet<string> refused, IReadOnlyDictionary<string, string>? remoteFolds)
    {
        Synced = synced;
        Remote = remote;
        Refused = refused;
        RemoteFolds = remoteFolds;
        var sizes = new HashSet<long>();
        foreach (var stat in synced.Values)
        {
            if (stat.Kind == FileKind.File)
            {
                sizes.Add(stat.Size);
            }
        }

        TrackedSizes = sizes;
    }

    /// <summary>The synced tree: every tracked path.</summary>
    public IReadOnlyDictionary<string, BaseStat> Synced { get; }

    /// <summary>The remote changes since the cursor (or a full listing).</summary>
    public IReadOnlyDictionary<string, RemoteEntry> Remote { get; }

    /// <summary>Paths whose newest remote state was refused.</summary>
    public IReadOnlySet<string> Refused { get; }

    /// <summary>The case-folded live remote names and the folders above them (see <see cref="SyncPlanner.RemoteFolds"/>); null when none.</summary>
    public IReadOnlyDictionary<string, string>? RemoteFolds { get; }

    /// <summary>The sizes of the tracked files: a new file of one of them may be where a tracked file moved.</summary>
    public IReadOnlySet<long> TrackedSizes { get; }

    /// <summary>The trees of a pass: the synced index and the remote view (its case-folded names taken now).</summary>
    public static NewFileTrees Of(IReadOnlyDictionary<string, BaseStat> synced, RemoteView remote) =>
        new(synced, remote.Changes, remote.Refusals.Paths, SyncPlanner.RemoteFolds(remote.Changes));
}
