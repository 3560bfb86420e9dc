using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The plain new files a scan found (the rule is the planner's: <see cref="PlannerFastPaths.IsPlainNewFile"/>). Each can
/// only be uploaded as new, so the planner need not see it as an entry and its content need not be hashed before the
/// plan: the pass holds a path, size and mtime per file (not an entry, a fingerprint and an action) and hashes and
/// uploads them in groups after the planned work. A first sync of a 100,000-file tree is almost all such files.
/// </summary>
internal sealed class NewFiles
{
    private readonly NewFileTrees _trees;
    private readonly Stability _stability;
    private readonly List<NewFile> _files = [];

    public NewFiles(NewFileTrees trees, Stability stability)
    {
        _trees = trees;
        _stability = stability;
    }

    /// <summary>
    /// Over the synced index and the remote view (case-folded names taken now): for the tests and the planner model; the
    /// engine passes the <see cref="NewFileTrees"/> it builds (it reads the folded names too).
    /// </summary>
    public NewFiles(Dictionary<string, BaseStat> index, RemoteView remote, Stability stability)
        : this(NewFileTrees.Of(index, remote), stability)
    {
    }

    public int Count => _files.Count;

    public long Bytes { get; private set; }

    /// <summary>The files held, by path (size and mtime): built on demand, for the few callers that look paths up.</summary>
    public Dictionary<string, (long Size, long MtimeTicks)> ByPath() =>
        _files.ToDictionary(f => f.Path, f => (f.Size, f.MtimeTicks), StringComparer.Ordinal);

    /// <summary>Takes the path (true) when it is a plain new file; anything else is left to the planner.</summary>
    public bool TryAdd(string path, FileKind kind, long size, long mtimeTicks)
    {
        // The planner's rule over the trees first (most files a scan reports are tracked: no clock read for them), then
        // the observation and the planner's wait rule: one perhaps still being written is not plain (the planner plans
        // it path by path, where it waits). The clock is read now, not when the scan began: a file written during a
        // long scan would otherwise look stamped in the future and skip the rule.
        if (!PlannerFastPaths.IsPlainNewFileObserving(path, kind, size, () => _stability.SettlesIn(path, mtimeTicks), _trees))
        {
            return false;
        }

        _files.Add(new NewFile(path, size, mtimeTicks));
        Bytes += size;
        return true;
    }

    /// <summary>
    /// Hands back to <paramref name="snapshot"/> (so the planner decides them) the files at, under or above a path whose
    /// remote state was added after the scan (the withheld table's look-ups): taken then, they might be a kind clash now.
    /// A file above one is a file here where the server has a folder (the looked-up path in it): held as plain new, it was
    /// uploaded onto the server's folder and the folder made under it here, both failing every pass, the cursor held.
    /// </summary>
    public void GiveBack(HashSet<string> injected, LocalSnapshot snapshot)
    {
        if (injected.Count == 0 || _files.Count == 0)
        {
            return;
        }

        HashSet<string>? above = null; // the folders the looked-up paths lie in, built on the first file only
        bool Hit(string path)
        {
            if (injected.Contains(path) || (above ??= FoldersAbove(injected)).Contains(path))
            {
                return true;
            }

            for (var slash = path.LastIndexOf('/'); slash > 0; slash = path.LastIndexOf('/', slash - 1))
            {
                if (injected.Contains(path[..slash]))
                {
                    return true;
                }
            }

            return false;
        }

        _files.RemoveAll(f =>
        {
            if (!Hit(f.Path))
            {
                return false;
            }

            snapshot.Entries[f.Path] = f.Entry;
            Bytes -= f.Size;
            return true;
        });
    }

    /// <summary>Every folder above a path of <paramref name="paths"/>.</summary>
    private static HashSet<string> FoldersAbove(HashSet<string> paths)
    {
        var folders = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in paths)
        {
            for (var slash = path.LastIndexOf('/'); slash > 0; slash = path.LastIndexOf('/', slash - 1))
            {
                if (!folders.Add(path[..slash]))
                {
                    break; // added before, with every folder above it
                }
            }
        }

        return folders;
    }

    /// <summary>
    /// Gives back a path taken as a plain new file (true, with its scanned entry) once a remote entry for it turns up
    /// after the scan (a remembered withheld path's lookup): both sides now hold it, which is the planner's to decide.
    /// </summary>
    public bool TryTakeBack(string path, out LocalEntry entry)
    {
        var i = _files.FindIndex(f => f.Path == path);
        if (i < 0)
        {
            entry = null!;
            return false;
        }

        var f = _files[i];
        _files.RemoveAt(i);
        Bytes -= f.Size;
        entry = f.Entry;
        return true;
    }

    /// <summary>
    /// Every file as a new upload, made as it is taken and its slot released then: the uploader takes them a few groups
    /// at a time, so only those groups' actions and fingerprints are held.
    /// </summary>
    public IEnumerable<SyncAction> Actions()
    {
        for (var i = 0; i < _files.Count; i++)
        {
            var f = _files[i];
            _files[i] = default;
            yield return new SyncAction(SyncActionKind.Upload, f.Path) { Local = f.Entry };
        }

        _files.Clear();
    }

    private readonly record struct NewFile(string Path, long Size, long MtimeTicks)
    {
        /// <summary>Its entry: observed settled when the scan found it (<see cref="TryAdd"/> takes no other).</summary>
        public LocalEntry Entry => new(Path, FileKind.File, Size, MtimeTicks, SettlesIn: null);
    }
}
