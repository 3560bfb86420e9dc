using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Local;

/// <summary>Walks the sync folder (stat only), pruning ignored directories, and reports case clashes.</summary>
internal sealed class LocalScanner
{
    private static readonly EnumerationOptions Options = new()
    {
        IgnoreInaccessible = true,
        RecurseSubdirectories = false,
        AttributesToSkip = 0,
        ReturnSpecialDirectories = false,
    };

    private readonly string _root;
    private readonly IgnoreMatcher _ignore;
    private readonly string? _excludedFullPath;

    /// <param name="root">The sync folder.</param>
    /// <param name="ignore">Ignore rules.</param>
    /// <param name="excludedFullPath">A directory never scanned (the state directory, if it lives inside the folder).</param>
    public LocalScanner(string root, IgnoreMatcher ignore, string? excludedFullPath = null)
    {
        _root = Path.GetFullPath(root);
        _ignore = ignore;
        _excludedFullPath = excludedFullPath is null ? null : Path.GetFullPath(excludedFullPath).TrimEnd(Path.DirectorySeparatorChar);
    }

    /// <summary>Scans the whole folder.</summary>
    public LocalSnapshot Scan(CancellationToken ct) => Scan(null, ct);

    /// <summary>
    /// Scans the whole folder, leaving out of the snapshot every path <paramref name="isClean"/> (path, kind, size,
    /// mtime ticks) calls clean: synced and unchanged, so nothing needs deciding for it. A pass over a large tree
    /// then holds an entry only for what changed.
    /// </summary>
    public LocalSnapshot Scan(Func<string, FileKind, long, long, bool>? isClean, CancellationToken ct)
    {
        var snapshot = new LocalSnapshot();

        // Names that differ only in case can only clash within one directory (a clashing parent is not descended
        // into), so the case-fold index is per directory rather than one entry per path in the tree.
        var folded = new Dictionary<string, string>(StringComparer.Ordinal);
        var stack = new Stack<DirectoryInfo>();
        stack.Push(new DirectoryInfo(_root));
        while (stack.Count > 0)
        {
            ct.ThrowIfCancellationRequested();
            var dir = stack.Pop();
            var relativeDir = dir.FullName.Length <= _root.Length ? string.Empty : SyncPaths.ToRelative(_root, dir.FullName);
            var hasChildren = false;
            folded.Clear();
            IEnumerable<FileSystemInfo> children;
            try
            {
                children = dir.EnumerateFileSystemInfos("*", Options).ToList();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                snapshot.Skipped.Add($"{relativeDir}/: {e.Message}");
                continue;
            }

            foreach (var info in children)
            {
                var relative = relativeDir.Length == 0 ? Normalize(info.Name) : relativeDir + "/" + Normalize(info.Name);
                var isDirectory = (info.Attributes & FileAttributes.Directory) != 0;
                if (_ignore.IsIgnored(relative, isDirectory))
                {
                    continue;
                }

                if (isDirectory && _excludedFullPath is not null && string.Equals(info.FullName.TrimEnd(Path.DirectorySeparatorChar), _excludedFullPath, StringComparison.Ordinal))
                {
                    continue;
                }

                if (!Dropbox.Shared.Paths.PathRules.TryNormalize(relative, out _, out var invalid))
                {
                    snapshot.Skipped.Add($"{relative}: {invalid}");
                    continue;
                }

                if (info.LinkTarget is not null)
                {
                    snapshot.Skipped.Add($"{relative}: symbolic links are not synced");
                    continue;
                }

                var key = SyncPaths.CaseFoldKey(info.Name.Normalize(System.Text.NormalizationForm.FormC));
                if (folded.TryGetValue(key, out var other))
                {
                    snapshot.CaseClashes.Add($"'{relative}' and '{other}' differ only in case; '{relative}' is not synced until one is renamed");
                    continue;
                }

                folded[key] = relative;
                hasChildren = true;
                if (isDirectory)
                {
                    if (isClean is null || !isClean(relative, FileKind.Folder, 0, 0))
                    {
                        snapshot.Entries[relative] = new LocalEntry(relative, FileKind.Folder, 0, 0);
                    }

                    stack.Push((DirectoryInfo)info);
                }
                else
                {
                    var file = (FileInfo)info;
                    var size = file.Length;
                    var mtime = file.LastWriteTimeUtc.Ticks;
                    if (isClean is null || !isClean(relative, FileKind.File, size, mtime))
                    {
                        snapshot.Entries[relative] = new LocalEntry(relative, FileKind.File, size, mtime);
                    }
                }
            }

            if (!hasChildren && relativeDir.Length > 0)
            {
                snapshot.EmptyFolders.Add(relativeDir);
            }
        }

        return snapshot;
    }

    private static string Normalize(string name) => name.Normalize(System.Text.NormalizationForm.FormC);
}
