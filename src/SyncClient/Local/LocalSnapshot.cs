namespace Dropbox.SyncClient.Local;

/// <summary>What a scan of the sync folder found.</summary>
internal sealed class LocalSnapshot
{
    /// <summary>Files and folders by relative path.</summary>
    public Dictionary<string, LocalEntry> Entries { get; } = new(StringComparer.Ordinal);

    /// <summary>Folders with nothing syncable inside (they need an explicit folder entry remotely).</summary>
    public HashSet<string> EmptyFolders { get; } = new(StringComparer.Ordinal);

    /// <summary>Paths whose names differ only in case from another: reported and not synced.</summary>
    public List<string> CaseClashes { get; } = [];

    /// <summary>
    /// The losing names of <see cref="CaseClashes"/> (withheld): in each directory the names are taken in ordinal
    /// order, so the first of a case-clashing group wins and the same one loses on every pass.
    /// </summary>
    public List<(string Path, bool IsDirectory)> CaseClashLosers { get; } = [];

    /// <summary>
    /// Files under a hidden holding name (<see cref="TempName.IsDisplaced"/>) left by an older client stopped while it
    /// looked at them: a user's file a download displaced. Each with the path of the file it displaced (beside it), or
    /// null where its name did not fit in the holding name. Not in <see cref="Entries"/>: the planner removes or keeps each (Sync.DisplacedRules).
    /// </summary>
    public List<(string Path, string? OriginalPath)> Displaced { get; } = [];

    /// <summary>Paths skipped and why (unreadable, symbolic link, invalid name...).</summary>
    public List<string> Skipped { get; } = [];

    /// <summary>The ignore rules the scan found (every directory's <c>.dropboxignore</c>).</summary>
    public IgnoreTree Ignore { get; set; } = IgnoreTree.BuiltIn;

    /// <summary>
    /// Each <c>.dropboxignore</c> the scan read (or, where it could not, whose remembered rules it applied): its folder
    /// (relative, "" for the top), the hex SHA-256 of its bytes, whether it has a negation (a line starting with <c>!</c>:
    /// it may un-ignore what a file above ignores), its rule lines (Sync.IgnoreFileMemory.RuleText: not its bytes), and
    /// the stamp of the file read (null: unknown), and whether its rules were applied whole (false: remembered rules applied
    /// to an unreadable file without their '!' lines, Sync.IgnoreFileMemory.Applicable).
    /// </summary>
    public List<(string Folder, string Hash, bool Negates, string Rules, IgnoreFileStamp? Stamp, bool Whole)> IgnoreFiles { get; } = [];

    /// <summary>
    /// Paths that exist here but the scan could not take: the losing name of a case clash, a folder it could not
    /// read (everything under it too), a symbolic link. Absent from <see cref="Entries"/> without being deleted, so
    /// a pass must neither delete them remotely nor write over them. "" withholds the whole folder.
    /// </summary>
    public HashSet<string> Withheld { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// The size and mtime of each file withheld because no path the client can name reaches it (named on disk in
    /// decomposed Unicode where the composed name reaches nothing; a name not valid UTF-8 cannot be read for them), and of
    /// each file inside such a folder once walked (<see cref="WalkUnnamableFolders"/>). A synced file gone from its path whose stamp is here was most likely
    /// renamed to such a name (a rename keeps both): its remote delete is held back until that name is renamed.
    /// </summary>
    public HashSet<FileStamp> Unnamable { get; } = [];

    /// <summary>
    /// Folders withheld because no path reaches their name but reached by their name as listed (NFD): the files inside
    /// add to <see cref="Unnamable"/> only when <see cref="WalkUnnamableFolders"/> is called (a pass that finds a synced
    /// path gone), not at every scan.
    /// </summary>
    public List<string> UnnamableFolders { get; } = [];

    /// <summary>Most entries inside <see cref="UnnamableFolders"/> one <see cref="WalkUnnamableFolders"/> reads.</summary>
    internal const int MaxUnnamableEntries = 100_000;

    /// <summary>
    /// Adds the stamps of the files inside <see cref="UnnamableFolders"/> to <see cref="Unnamable"/>, up to
    /// <paramref name="maxEntries"/> entries in all (what was walked counts; a synced file not matched is decided as before).
    /// </summary>
    public void WalkUnnamableFolders(int maxEntries = MaxUnnamableEntries)
    {
        var budget = maxEntries;
        foreach (var folder in UnnamableFolders)
        {
            try
            {
                foreach (var file in Directory.EnumerateFiles(folder, "*", UnnamableWalk))
                {
                    if (--budget < 0)
                    {
                        return;
                    }

                    if (FileChangeTime.TryStat(file) is { Exists: true, IsRegularFile: true } stat)
                    {
                        Unnamable.Add(new FileStamp(stat.Size, stat.MtimeTicks));
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // What was walked counts.
            }
        }

        UnnamableFolders.Clear();
    }

    private static readonly EnumerationOptions UnnamableWalk = new()
    {
        RecurseSubdirectories = true,
        IgnoreInaccessible = true,
        AttributesToSkip = FileAttributes.ReparsePoint,
    };

    /// <summary>True when <paramref name="path"/> or a folder above it is withheld.</summary>
    public bool IsWithheld(string path)
    {
        if (Withheld.Count == 0)
        {
            return false;
        }

        for (var p = path; ; p = p[..p.LastIndexOf('/')])
        {
            if (Withheld.Contains(p))
            {
                return true;
            }

            if (p.LastIndexOf('/') < 0)
            {
                return Withheld.Contains(string.Empty);
            }
        }
    }

    /// <summary>
    /// A copy whose collections are its own (the entries themselves are immutable records): the planner edits a copy for
    /// the local case clashes it decides (<see cref="Sync.SyncPlanner"/>), leaving the one it was given as it was.
    /// </summary>
    public LocalSnapshot Copy()
    {
        var copy = new LocalSnapshot { Ignore = Ignore };
        foreach (var (path, entry) in Entries)
        {
            copy.Entries[path] = entry;
        }

        copy.EmptyFolders.UnionWith(EmptyFolders);
        copy.CaseClashes.AddRange(CaseClashes);
        copy.CaseClashLosers.AddRange(CaseClashLosers);
        copy.Displaced.AddRange(Displaced);
        copy.Skipped.AddRange(Skipped);
        copy.IgnoreFiles.AddRange(IgnoreFiles);
        copy.Withheld.UnionWith(Withheld);
        copy.Unnamable.UnionWith(Unnamable);
        copy.UnnamableFolders.AddRange(UnnamableFolders);
        return copy;
    }
}
