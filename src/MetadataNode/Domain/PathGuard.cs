using System.Text;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// The one place the metadata node applies the shared path rules, so every path it stores is normalized
/// the same way the clients normalize them.
/// </summary>
internal static class PathGuard
{
    /// <summary>Returns the normalized path, or throws InvalidArgument naming what is wrong.</summary>
    public static string Normalize(string? path, string what = "path")
    {
        if (string.IsNullOrEmpty(path))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"The {what} is empty: give a relative path such as 'docs/report.txt'.");
        }

        if (Encoding.UTF8.GetByteCount(path) > Limits.MaxPathBytes)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"The {what} is longer than {Limits.MaxPathBytes} bytes.");
        }

        string normalized;
        try
        {
            normalized = NormalizeCore(path);
        }
        catch (ArgumentException ex)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"Bad {what} '{Shorten(path)}': {ex.Message}", ex);
        }
        catch (DropboxException ex) when (ex.Kind == ErrorKind.InvalidArgument)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"Bad {what} '{Shorten(path)}': {ex.Message}", ex);
        }

        if (normalized.Contains('\0', StringComparison.Ordinal))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"Bad {what}: it contains a NUL character.");
        }

        return normalized;
    }

    /// <summary>Normalizes an optional folder prefix: empty means the root.</summary>
    public static string NormalizePrefix(string? prefix) => string.IsNullOrEmpty(prefix) ? string.Empty : Normalize(prefix.TrimEnd('/'), "prefix");

    // TEMPORARY fallback until Dropbox.Shared.Paths.PathRules lands on main; then this becomes
    // `Dropbox.Shared.Paths.PathRules.Normalize(path)` and the fallback is deleted.
    private static string NormalizeCore(string path)
    {
        var nfc = path.Normalize(NormalizationForm.FormC);
        if (nfc.StartsWith('/') || nfc.EndsWith('/'))
        {
            throw new ArgumentException("a path is relative and has no leading or trailing '/'.");
        }

        if (nfc.Contains('\\', StringComparison.Ordinal))
        {
            throw new ArgumentException("use '/' to separate folders, not '\\'.");
        }

        foreach (var segment in nfc.Split('/'))
        {
            if (segment.Length == 0 || segment is "." or "..")
            {
                throw new ArgumentException("empty, '.' and '..' segments are not allowed.");
            }

            if (Encoding.UTF8.GetByteCount(segment) > 255)
            {
                throw new ArgumentException("a name is at most 255 bytes.");
            }

            foreach (var c in segment)
            {
                if (char.IsControl(c))
                {
                    throw new ArgumentException("control characters are not allowed.");
                }
            }
        }

        return nfc;
    }

    private static string Shorten(string s) => s.Length <= 80 ? s : string.Concat(s.AsSpan(0, 77), "...");
}
