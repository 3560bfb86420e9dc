namespace Dropbox.SyncClient.Sync;

/// <summary>
/// "(Case Conflict)" names the server refused as existing when a new remote file was renamed there (a path not synced
/// here: ignored here, or new there since the listing), so the next try, in this pass or a later one, picks the next
/// free name. One per engine, in memory only: a <c>sync --once</c> run starts again from the first free name (see
/// <see cref="NewRemoteCaseRenames.MaxMoves"/>).
/// </summary>
internal sealed class CaseNamesRefused
{
    /// <summary>Most names remembered; past it the memory starts again.</summary>
    private const int MaxNames = 1_000;

    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    /// <summary>The names remembered (the rule reads them when it picks a first name).</summary>
    public IReadOnlySet<string> Names => _names;

    /// <summary>Remembers <paramref name="name"/> as refused by the server.</summary>
    public void Add(string name)
    {
        if (_names.Count >= MaxNames)
        {
            _names.Clear();
        }

        _names.Add(name);
    }
}
