using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// Walks the sync folder (stat only), reading each directory's <c>.dropboxignore</c> on the way down and
/// pruning ignored directories, and reports case clashes.
/// </summary>
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
    /// <param name="ignore">Rules in force before any <c>.dropboxignore</c> is read (normally <see cref="IgnoreMatcher.BuiltIn"/>).</param>
    /// <param name="excludedFullPath">A directory never scanned (the state directory, if it lives inside the folder).</param>
    public LocalScanner(string root, IgnoreMatcher ignore, string? excludedFullPath = null)
    {
        _root = Path.GetFullPath(root);
        _ignore = ignore;
        _excludedFullPath = excludedFullPath is null ? null : Path.GetFullPath(excludedFullPath).TrimEnd(Path.DirectorySeparatorChar);
    }

    /// <summary>Scans the whole folder.</summary>
    public LocalSnapshot Scan(CancellationToken ct)
    {
        var snapshot = new LocalSnapshot();
        var folded = new Dictionary<string, string>(StringComparer.Ordinal);
        var stack = new Stack<(DirectoryInfo Dir, IgnoreMatcher Ignore)>();
        stack.Push((new DirectoryInfo(_root), _ignore));
        var tree = new IgnoreTree(_ignore);
        snapshot.Ignore = tree;
        while (stack.Count > 0)
        {
            ct.ThrowIfCancellationRequested();
            var (dir, ignore) = stack.Pop();
            var relativeDir = dir.FullName.Length <= _root.Length ? string.Empty : SyncPaths.ToRelative(_root, dir.FullName);
            var hasChildren = false;
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

            ignore = ReadIgnoreFile(children, relativeDir, ignore, tree, snapshot);

            foreach (var info in children)
            {
                var relative = relativeDir.Length == 0 ? Normalize(info.Name) : relativeDir + "/" + Normalize(info.Name);
                var isDirectory = (info.Attributes & FileAttributes.Directory) != 0;
                if (ignore.IsIgnored(relative, isDirectory))
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

                var key = SyncPaths.CaseFoldKey(relative);
                if (folded.TryGetValue(key, out var other))
                {
                    snapshot.CaseClashes.Add($"'{relative}' and '{other}' differ only in case; '{relative}' is not synced until one is renamed");
                    continue;
                }

                folded[key] = relative;
                hasChildren = true;
                if (isDirectory)
                {
                    snapshot.Entries[relative] = new LocalEntry(relative, FileKind.Folder, 0, 0);
                    stack.Push(((DirectoryInfo)info, ignore));
                }
                else
                {
                    var file = (FileInfo)info;
                    snapshot.Entries[relative] = new LocalEntry(relative, FileKind.File, file.Length, file.LastWriteTimeUtc.Ticks);
                }
            }

            if (!hasChildren && relativeDir.Length > 0)
            {
                snapshot.EmptyFolders.Add(relativeDir);
            }
        }

        return snapshot;
    }

    /// <summary>Adds the directory's own <c>.dropboxignore</c> (if any) to the rules inherited from above.</summary>
    private static IgnoreMatcher ReadIgnoreFile(IEnumerable<FileSystemInfo> children, string relativeDir, IgnoreMatcher inherited, IgnoreTree tree, LocalSnapshot snapshot)
    {
        var file = children.FirstOrDefault(c => c.Name == IgnoreMatcher.IgnoreFileName && (c.Attributes & FileAttributes.Directory) == 0);
        if (file is null)
        {
            return inherited;
        }

        try
        {
            var matcher = inherited.WithFile(relativeDir, File.ReadAllLines(file.FullName));
            tree.Set(relativeDir, matcher);
            return matcher;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            snapshot.Skipped.Add($"{(relativeDir.Length == 0 ? string.Empty : relativeDir + "/")}{IgnoreMatcher.IgnoreFileName}: unreadable, its rules are not applied ({e.Message})");
            return inherited;
        }
    }

    private static string Normalize(string name) => name.Normalize(System.Text.NormalizationForm.FormC);
}
