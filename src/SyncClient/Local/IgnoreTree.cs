namespace Dropbox.SyncClient.Local;

/// <summary>
/// The ignore rules in effect across the folder, as a scan found them: the matcher of every directory that
/// holds a <c>.dropboxignore</c> (each includes its ancestors' rules). Answers for any path, including paths
/// the scan never reached (db rows and remote changes), by judging each ancestor in turn, so a path below an
/// ignored directory is ignored as in git.
/// </summary>
internal sealed class IgnoreTree
{
    private readonly Dictionary<string, IgnoreMatcher> _byDirectory = new(StringComparer.Ordinal);

    /// <param name="root">The matcher of the sync folder's root.</param>
    public IgnoreTree(IgnoreMatcher root)
    {
        _byDirectory[string.Empty] = root;
    }

    /// <summary>The built-in rules only (nothing scanned).</summary>
    public static IgnoreTree BuiltIn { get; } = new(IgnoreMatcher.BuiltIn);

    /// <summary>Records the matcher in effect in <paramref name="directory"/> (which holds an ignore file).</summary>
    public void Set(string directory, IgnoreMatcher matcher) => _byDirectory[directory] = matcher;

    /// <summary>The matcher for names directly inside <paramref name="directory"/>.</summary>
    public IgnoreMatcher For(string directory)
    {
        var dir = directory;
        for (var i = 0; i < 4096; i++)
        {
            if (_byDirectory.TryGetValue(dir, out var m))
            {
                return m;
            }

            if (dir.Length == 0)
            {
                break;
            }

            dir = SyncPaths.Parent(dir);
        }

        return _byDirectory[string.Empty];
    }

    /// <summary>True when <paramref name="relativePath"/> or one of its parent directories is ignored.</summary>
    public bool IsIgnored(string relativePath, bool isDirectory)
    {
        var start = 0;
        while (start < relativePath.Length)
        {
            var slash = relativePath.IndexOf('/', start);
            var prefix = slash < 0 ? relativePath : relativePath[..slash];
            var parent = start == 0 ? string.Empty : relativePath[..(start - 1)];
            if (For(parent).IsIgnored(prefix, slash >= 0 || isDirectory))
            {
                return true;
            }

            if (slash < 0)
            {
                break;
            }

            start = slash + 1;
        }

        return false;
    }
}
