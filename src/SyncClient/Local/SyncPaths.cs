using System.Text;

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

    /// <summary>The OS path of a relative path under <paramref name="root"/>.</summary>
    public static string ToFull(string root, string relative) =>
        Path.Combine(root, Path.DirectorySeparatorChar == '/' ? relative : relative.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>The key two names share when a case-insensitive file system would merge them.</summary>
    public static string CaseFoldKey(string relative) => Dropbox.Shared.Paths.PathRules.CaseFoldKey(relative);

    /// <summary>Parent folder of a relative path ("" for the root).</summary>
    public static string Parent(string relative)
    {
        var slash = relative.LastIndexOf('/');
        return slash < 0 ? string.Empty : relative[..slash];
    }
}
