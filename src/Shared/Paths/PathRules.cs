using System.Diagnostics.CodeAnalysis;
using System.Text;
using Dropbox.Shared.Errors;

namespace Dropbox.Shared.Paths;

/// <summary>
/// The rules for file paths that clients send. A path on the wire is relative to the namespace root, uses
/// <c>/</c> as its only separator, and is stored in Unicode NFC so that the same name typed on macOS (NFD)
/// and on Linux or Windows (NFC) is one file.
/// </summary>
/// <remarks>
/// A backslash is refused rather than read as a separator or kept as a character: a name with <c>\</c>
/// cannot exist on Windows, and silently treating it as a separator would make two clients disagree.
/// Refused too: empty paths, absolute paths (leading <c>/</c>), empty segments (<c>a//b</c>, trailing
/// <c>/</c>), <c>.</c> and <c>..</c> segments, control characters (C0, DEL, C1), unpaired surrogates,
/// segments over 255 UTF-8 bytes and paths over 4096 UTF-8 bytes (both counted after NFC).
/// Each refusal has its own message naming the rule.
/// </remarks>
public static class PathRules
{
    /// <summary>Longest segment (file or folder name), in UTF-8 bytes after NFC.</summary>
    public const int MaxSegmentBytes = 255;

    /// <summary>Longest whole path, in UTF-8 bytes after NFC.</summary>
    public const int MaxPathBytes = 4096;

    /// <summary>The only separator on the wire.</summary>
    public const char Separator = '/';

    /// <summary>Validates and NFC-normalizes a client path; refusals are <see cref="ErrorKind.InvalidArgument"/>.</summary>
    public static string Normalize(string path)
    {
        if (!TryNormalize(path, out var normalized, out var error))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, error);
        }

        return normalized;
    }

    /// <summary>Validates and NFC-normalizes a client path without throwing.</summary>
    /// <returns>True with the normalized path, or false with a message saying which rule was broken.</returns>
    public static bool TryNormalize(string path, out string normalized, [NotNullWhen(false)] out string? error)
    {
        error = Check(path, out var result);
        normalized = result ?? string.Empty;
        return error is null;
    }

    /// <summary>
    /// A key under which names that would clash on a case-insensitive file system (Windows, default macOS)
    /// are equal: the NFC path upper-cased with invariant culture (the per-character mapping NTFS and
    /// <see cref="StringComparer.OrdinalIgnoreCase"/> use), then NFC again. Compare keys ordinally.
    /// </summary>
    public static string CaseFoldKey(string normalizedPath)
    {
        ArgumentNullException.ThrowIfNull(normalizedPath);
        var upper = normalizedPath.ToUpperInvariant();
        return upper.IsNormalized(NormalizationForm.FormC) ? upper : upper.Normalize(NormalizationForm.FormC);
    }

    private static string? Check(string? path, out string? normalized)
    {
        normalized = null;
        if (string.IsNullOrEmpty(path))
        {
            return "Empty path: name a file or folder relative to the namespace root, e.g. 'docs/report.txt'.";
        }

        for (var i = 0; i < path.Length; i++)
        {
            var c = path[i];
            if (char.IsControl(c))
            {
                return $"Path contains a control character (U+{(int)c:X4}) at position {i}: remove it.";
            }

            if (c == '\\')
            {
                return $"Path contains a backslash at position {i}: '/' is the only separator, and '\\' is not allowed in names.";
            }

            if (char.IsHighSurrogate(c) && i + 1 < path.Length && char.IsLowSurrogate(path[i + 1]))
            {
                i++;
                continue;
            }

            if (char.IsSurrogate(c))
            {
                return $"Path is not valid Unicode: unpaired surrogate U+{(int)c:X4} at position {i}.";
            }
        }

        if (path[0] == Separator)
        {
            return "Absolute path: paths are relative to the namespace root; drop the leading '/'.";
        }

        string nfc;
        try
        {
            nfc = path.IsNormalized(NormalizationForm.FormC) ? path : path.Normalize(NormalizationForm.FormC);
        }
        catch (ArgumentException)
        {
            return "Path is not valid Unicode: it cannot be normalized to NFC.";
        }

        if (nfc[^1] == Separator)
        {
            return "Path ends with '/': name a file or folder without a trailing separator.";
        }

        var totalBytes = 0;
        foreach (var range in nfc.AsSpan().Split(Separator))
        {
            var segment = nfc.AsSpan(range);
            if (segment.IsEmpty)
            {
                return "Path contains an empty segment ('//'): separate names with a single '/'.";
            }

            if (segment is ".")
            {
                return "Path contains a '.' segment: name each folder explicitly.";
            }

            if (segment is "..")
            {
                return "Path contains a '..' segment: paths may not climb out of a folder.";
            }

            var bytes = Encoding.UTF8.GetByteCount(segment);
            if (bytes > MaxSegmentBytes)
            {
                return $"Path segment too long: '{Shorten(segment)}' is {bytes} UTF-8 bytes; a name may be at most {MaxSegmentBytes}.";
            }

            totalBytes += bytes + 1;
        }

        totalBytes--; // no separator after the last segment
        if (totalBytes > MaxPathBytes)
        {
            return $"Path too long: {totalBytes} UTF-8 bytes; a path may be at most {MaxPathBytes}.";
        }

        normalized = nfc;
        return null;
    }

    private static string Shorten(ReadOnlySpan<char> s)
    {
        if (s.Length <= 40)
        {
            return s.ToString();
        }

        // Do not cut a surrogate pair in half.
        var n = char.IsHighSurrogate(s[36]) ? 36 : 37;
        return string.Concat(s[..n], "...");
    }
}
