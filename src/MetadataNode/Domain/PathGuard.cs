using System.Text;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Paths;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// The one place the metadata node applies the shared path rules (<see cref="PathRules"/>), so every path
/// it stores is normalized exactly as the clients normalize theirs.
/// </summary>
internal static class PathGuard
{
    /// <summary>Returns the normalized path, or throws InvalidArgument naming what is wrong.</summary>
    public static string Normalize(string? path, string what = "path")
    {
        // Cheap bound before normalization work on a hostile multi-megabyte string.
        if (path is not null && path.Length > Limits.MaxPathBytes)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"The {what} is longer than {Limits.MaxPathBytes} bytes.");
        }

        if (!PathRules.TryNormalize(path ?? string.Empty, out var normalized, out var error))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, what == "path" ? error : $"{what}: {error}");
        }

        return normalized;
    }

    /// <summary>Normalizes an optional folder prefix: empty means the root.</summary>
    public static string NormalizePrefix(string? prefix) =>
        string.IsNullOrEmpty(prefix) ? string.Empty : Normalize(prefix.TrimEnd('/'), "prefix");

    /// <summary>UTF-8 length, for bounds on free-text fields.</summary>
    public static int Utf8Length(string s) => Encoding.UTF8.GetByteCount(s);
}
