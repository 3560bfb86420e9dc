using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The names of a pass a "(Case Conflict)" name for a new remote file must not be (see <see cref="NewRemoteCaseRules"/>):
/// every name here and every folder above one (exactly, and in any case), every path of the pass's remote view, and
/// the folded names of its live entries and their folders. Filled while the rule decides, then only read.
/// </summary>
internal sealed class CaseNamesInUse
{
    private readonly HashSet<string> _exact = new(StringComparer.Ordinal);
    private readonly HashSet<string> _folders = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _folded = new(StringComparer.Ordinal);
    private readonly IReadOnlyDictionary<string, RemoteEntry> _remote;
    private HashSet<string>? _remotePaths;
    private Dictionary<string, string>? _remoteFolds;

    public CaseNamesInUse(IReadOnlyDictionary<string, RemoteEntry> remote) => _remote = remote;

    /// <summary>
    /// Copies what the remote view holds now (the rule calls it once it found a clash: a clash is rare, the view large):
    /// the engine takes the plain new downloads out of the view after the rule, and a rename run later must still never
    /// pick their names.
    /// </summary>
    public void KeepRemoteView()
    {
        _remotePaths ??= new HashSet<string>(_remote.Keys, StringComparer.Ordinal);
        _remoteFolds ??= SyncPlanner.RemoteFolds(_remote) ?? new Dictionary<string, string>(StringComparer.Ordinal);
    }

    /// <summary>Adds <paramref name="path"/> and every folder above it (stopping at the first already held).</summary>
    public void Add(string path)
    {
        for (var end = path.Length; end > 0; end = path.LastIndexOf('/', end - 1))
        {
            if (end < path.Length && !_folders.Add(path[..end]))
            {
                break; // this folder and every one above it already held
            }

            if (_exact.Add(path[..end]))
            {
                _folded.TryAdd(SyncPaths.CaseFoldKey(path[..end]), path[..end]);
            }
        }
    }

    /// <summary>True when <paramref name="path"/> is held exactly as a folder (a path under it is held).</summary>
    public bool HoldsFolder(string path) => _folders.Contains(path);

    /// <summary>True when <paramref name="path"/> is held exactly.</summary>
    public bool HoldsExactly(string path) => _exact.Contains(path);

    /// <summary>The exact name held under <paramref name="path"/>'s case-folded key, if any.</summary>
    public bool TryGetFolded(string path, out string holder) => _folded.TryGetValue(SyncPaths.CaseFoldKey(path), out holder!);

    /// <summary>True when a rename must not pick <paramref name="path"/>: held here in any case, or in the remote view (exactly or in any case).</summary>
    public bool Contains(string path)
    {
        KeepRemoteView();
        return _exact.Contains(path) || _folded.ContainsKey(SyncPaths.CaseFoldKey(path)) || _remotePaths!.Contains(path) || _remoteFolds!.ContainsKey(SyncPaths.CaseFoldKey(path));
    }
}
