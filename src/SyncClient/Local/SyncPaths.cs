using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Paths;

namespace Dropbox.SyncClient.Local;

/// <summary>Conversions between OS paths under the sync folder and the relative '/'-separated NFC form the server uses.</summary>
internal static class SyncPaths
{
    /// <summary>The relative form of <paramref name="fullPath"/> under <paramref name="root"/>.</summary>
    public static string ToRelative(string root, string fullPath)
    {
        var relative = Path.GetRelativePath(root, fullPath);
        if (Path.DirectorySeparatorChar != '/')
        {
            relative = relative.Replace(Path.DirectorySeparatorChar, '/');
        }

        return relative.Normalize(NormalizationForm.FormC);
    }

    /// <summary>
    /// The OS path of a relative path under <paramref name="root"/>, without any check: only for paths the client
    /// made itself (its own scan). A path that came from the server goes through <see cref="Resolve"/>.
    /// </summary>
    public static string ToFull(string root, string relative) =>
        Path.Combine(root, Path.DirectorySeparatorChar == '/' ? relative : relative.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>
    /// Checks a path the server sent with the rules the server itself applies (<see cref="PathRules"/>): relative,
    /// no '..' or '.' segment, no empty segment, no control character (NUL included), no backslash (so no drive
    /// path such as <c>C:\x</c>), within the length limits, and already in NFC (the form the server stores).
    /// </summary>
    /// <returns>True, or false with a message naming the rule broken.</returns>
    public static bool TryCheckRemote(string? path, [NotNullWhen(false)] out string? error)
    {
        if (path is not null && path.Length > PathRules.MaxPathBytes)
        {
            error = $"Path too long: {path.Length} characters; a path may be at most {PathRules.MaxPathBytes} UTF-8 bytes.";
            return false;
        }

        if (!PathRules.TryNormalize(path ?? string.Empty, out var normalized, out error))
        {
            return false;
        }

        if (!string.Equals(normalized, path, StringComparison.Ordinal))
        {
            error = "Path is not in Unicode NFC, the form the server stores every path in.";
            return false;
        }

        if (Path.DirectorySeparatorChar != '/' && (path!.Contains(':', StringComparison.Ordinal) || Path.IsPathRooted(path)))
        {
            error = "Path contains ':' (a drive or alternate data stream on this system).";
            return false;
        }

        return true;
    }

    /// <summary>
    /// The one way a path the server sent becomes a local path: checked as <see cref="TryCheckRemote"/> says, then
    /// resolved inside <paramref name="root"/>, and refused if any folder on the way (or the name itself) is a
    /// symbolic link on disk, since writing through one could land outside the sync folder. A path resolving to or
    /// under <paramref name="reserved"/> (the client's state directory, which may sit inside the folder) is refused too.
    /// </summary>
    /// <exception cref="DropboxException">InvalidArgument naming the path and the rule it breaks.</exception>
    public static string Resolve(string root, string remotePath, string? reserved = null) => Resolve(root, remotePath, reserved, checkLinks: true);

    /// <summary>
    /// As <see cref="Resolve(string, string, string?)"/>; with <paramref name="checkLinks"/> false, without the look for
    /// links on disk, for a caller that reaches the path's folder through <see cref="FolderHandles"/> (which follows none).
    /// </summary>
    public static string Resolve(string root, string remotePath, string? reserved, bool checkLinks)
    {
        if (!TryCheckRemote(remotePath, out var error))
        {
            throw Refused(remotePath, error);
        }

        var full = ToFull(root, remotePath);
        var rootFull = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        var resolved = Path.GetFullPath(full);
        if (!resolved.StartsWith(rootFull + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw Refused(remotePath, $"it resolves to '{resolved}', outside the sync folder '{rootFull}'.");
        }

        if (reserved is not null && IsAtOrUnder(resolved, Path.TrimEndingDirectorySeparator(Path.GetFullPath(reserved))))
        {
            throw Refused(remotePath, StateDirectoryRule);
        }

        if (!checkLinks)
        {
            return resolved;
        }

        // Walk down from the root. The root itself may be a link: the user chose it.
        var current = rootFull;
        var end = 0;
        while (end < remotePath.Length)
        {
            var slash = remotePath.IndexOf('/', end);
            var segmentEnd = slash < 0 ? remotePath.Length : slash;
            current = Path.Combine(current, remotePath[end..segmentEnd]);
            if (IsLink(current, out var missing))
            {
                throw Refused(remotePath, $"'{Display(remotePath[..segmentEnd])}' is a symbolic link on disk; the client never writes through a link, which could lead outside the sync folder.");
            }

            if (missing)
            {
                break; // whatever is below a missing folder is created here as a plain folder
            }

            end = segmentEnd + 1;
        }

        return resolved;
    }

    /// <summary>
    /// True when <paramref name="path"/> itself (not what it leads to) is a link, whether or not its target exists.
    /// On Unix one readlink, which answers for links only: a missing path or any other kind of file reads as "not a
    /// link" and <paramref name="missing"/> stays false, so the walk above looks at every segment (a missing one's
    /// children are missing too). That is cheaper than the lstat the file's attributes take (with a geteuid for their
    /// read-only flag): downloads resolve each path twice, and a second device's first pass resolves every file.
    /// Elsewhere the file's attributes: any reparse point counts, and a missing path ends the walk.
    /// </summary>
    private static bool IsLink(string path, out bool missing)
    {
        missing = false;
        if (!OperatingSystem.IsWindows())
        {
            return new FileInfo(path).LinkTarget is not null;
        }

        var attributes = new FileInfo(path).Attributes;
        missing = (int)attributes == -1;
        return !missing && (attributes & FileAttributes.ReparsePoint) != 0;
    }

    /// <summary>The rule a server path into the client's own state directory breaks.</summary>
    public const string StateDirectoryRule = "it lies in the client's state directory, which the server never writes to.";

    /// <summary>
    /// Why a remote file is never taken at a folder that holds the client's state directory: taking it would move that
    /// folder (and the db, its lock and the trash in it) aside as a conflicted copy. Such a file is not reported as
    /// refused: the planner moves it aside on the server (see <c>Sync.Refusals.AboveStateDirectory</c>).
    /// </summary>
    public const string StateDirectoryParentRule = "a file there would take the place of a folder that holds the client's state directory; it is renamed on the server to a conflicted copy instead.";

    /// <summary>
    /// The relative form of the state directory when it lies inside the sync folder (e.g. <c>.dropbox-client</c> with
    /// <c>--folder ~</c>), else null.
    /// </summary>
    public static string? ReservedRelative(string root, string stateDirectory)
    {
        var rootFull = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        var stateFull = Path.TrimEndingDirectorySeparator(Path.GetFullPath(stateDirectory));
        return IsAtOrUnder(stateFull, rootFull) && !string.Equals(stateFull, rootFull, PathComparison) ? ToRelative(rootFull, stateFull) : null;
    }

    /// <summary>True when the relative <paramref name="path"/> is <paramref name="reserved"/> or lies under it.</summary>
    public static bool IsAtOrUnderRelative(string path, string? reserved) =>
        reserved is not null
        && path.StartsWith(reserved, PathComparison)
        && (path.Length == reserved.Length || path[reserved.Length] == '/');

    /// <summary>True when the relative <paramref name="path"/> or one of its parents is in <paramref name="paths"/> (compared as spelled).</summary>
    public static bool IsAtOrUnderAny(string path, IReadOnlySet<string> paths)
    {
        for (var p = path; ; p = p[..p.LastIndexOf('/')])
        {
            if (paths.Contains(p))
            {
                return true;
            }

            if (!p.Contains('/'))
            {
                return false;
            }
        }
    }

    /// <summary>How this system compares paths: case-insensitively where its file systems usually are (Windows, macOS).</summary>
    private static StringComparison PathComparison => OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    private static bool IsAtOrUnder(string full, string directory) =>
        full.StartsWith(directory, PathComparison) && (full.Length == directory.Length || full[directory.Length] == Path.DirectorySeparatorChar);

    /// <summary>
    /// A path (or other server text) as it may be shown in a message or a terminal: control characters escaped (no
    /// escape sequence from a server reaches the terminal), and longer than <paramref name="max"/> characters cut.
    /// </summary>
    public static string Display(string? path, int max = 300)
    {
        if (string.IsNullOrEmpty(path))
        {
            return string.Empty;
        }

        return Escape(path.Length > max ? path[..max] + "..." : path, keepNewlines: false);
    }

    /// <summary>
    /// Server text for a terminal or a log: every control character (escape, carriage return, C1 controls...) written
    /// as <c>\uXXXX</c>, so no escape sequence reaches the terminal; line feeds kept as they are when
    /// <paramref name="keepNewlines"/> (a multi-line message stays readable).
    /// </summary>
    public static string Escape(string text, bool keepNewlines)
    {
        if (!text.Any(c => char.IsControl(c) && !(keepNewlines && c == '\n')))
        {
            return text;
        }

        var sb = new StringBuilder(text.Length + 8);
        foreach (var c in text)
        {
            if (char.IsControl(c) && !(keepNewlines && c == '\n'))
            {
                sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }

    /// <summary>The refusal of a server path: InvalidArgument with the path (escaped) and the rule.</summary>
    public static DropboxException Refused(string? remotePath, string rule) =>
        new(ErrorKind.InvalidArgument, $"refused the server's path '{Display(remotePath)}': {rule}");

    /// <summary>The key two names share when a case-insensitive file system would merge them.</summary>
    public static string CaseFoldKey(string relative) => PathRules.CaseFoldKey(relative);

    /// <summary>Parent folder of a relative path ("" for the root).</summary>
    public static string Parent(string relative)
    {
        var slash = relative.LastIndexOf('/');
        return slash < 0 ? string.Empty : relative[..slash];
    }
}
