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

    /// <summary>Paths skipped and why (unreadable, symbolic link, invalid name...).</summary>
    public List<string> Skipped { get; } = [];

    /// <summary>The ignore rules the scan found (every directory's <c>.dropboxignore</c>).</summary>
    public IgnoreTree Ignore { get; set; } = IgnoreTree.BuiltIn;
}
