using System.Globalization;
using System.Text;
using Dropbox.Shared.Paths;

namespace Dropbox.SyncClient.Local;

/// <summary>Names for the loser of a conflict: <c>name (conflicted copy HOST YYYY-MM-DD).ext</c>, then " 2", " 3"...</summary>
internal static class ConflictNames
{
    /// <summary>The marker every conflicted copy carries in its name.</summary>
    public const string Marker = " (conflicted copy ";

    /// <summary>The first candidate name for which <paramref name="isTaken"/> is false.</summary>
    /// <param name="path">Relative '/'-separated path of the file that lost.</param>
    /// <param name="host">Device name of this client.</param>
    /// <param name="date">Date of the conflict (local calendar date).</param>
    /// <param name="isTaken">True for a relative path that already exists (locally, in the db or remotely).</param>
    public static string Next(string path, string host, DateOnly date, Func<string, bool> isTaken)
    {
        var slash = path.LastIndexOf('/');
        var directory = slash >= 0 ? path[..(slash + 1)] : string.Empty;
        var name = slash >= 0 ? path[(slash + 1)..] : path;
        var dot = name.LastIndexOf('.');
        // A leading dot (".bashrc") starts a name, not an extension.
        var (stem, extension) = dot > 0 ? (name[..dot], name[dot..]) : (name, string.Empty);
        var safeHost = string.IsNullOrWhiteSpace(host) ? "unknown" : host.Replace('/', '_').Replace('\\', '_');
        var stamp = date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        for (var n = 1; n < 10_000; n++)
        {
            var suffix = n == 1 ? string.Empty : " " + n.ToString(CultureInfo.InvariantCulture);
            var candidate = directory + FitName(stem, $"{Marker}{safeHost} {stamp}{suffix})", extension);
            if (!isTaken(candidate))
            {
                return candidate;
            }
        }

        throw new IOException($"Could not find a free conflicted-copy name for '{path}' after 10000 tries; clean up old conflicted copies.");
    }

    /// <summary>
    /// <paramref name="stem"/> + <paramref name="tag"/> + <paramref name="extension"/>, the stem cut short (at a character,
    /// never inside one's UTF-8 bytes) so the name fits in <see cref="PathRules.MaxSegmentBytes"/> as the path rules count
    /// it (after NFC): a name near the limit would otherwise get a conflicted-copy name every write refuses, and the copy
    /// could never be made. The extension is kept (cut only when the tag and it alone are over the limit).
    /// </summary>
    private static string FitName(string stem, string tag, string extension)
    {
        var name = stem + tag + extension;
        if (Fits(name))
        {
            return name;
        }

        var kept = stem.AsSpan();
        while (!kept.IsEmpty)
        {
            kept = kept[..LastRuneStart(kept)];
            name = string.Concat(kept, tag, extension);
            if (Fits(name))
            {
                return name;
            }
        }

        var ext = extension.AsSpan();
        while (!ext.IsEmpty)
        {
            ext = ext[..LastRuneStart(ext)];
            name = string.Concat(tag.AsSpan(), ext);
            if (Fits(name))
            {
                return name;
            }
        }

        return tag; // a host name alone over the limit: refused by the write, as before
    }

    private static bool Fits(string name) => Encoding.UTF8.GetByteCount(name.Normalize(NormalizationForm.FormC)) <= PathRules.MaxSegmentBytes;

    /// <summary>Where the last character of <paramref name="text"/> starts (a surrogate pair is one character).</summary>
    private static int LastRuneStart(ReadOnlySpan<char> text) =>
        text.Length >= 2 && char.IsLowSurrogate(text[^1]) && char.IsHighSurrogate(text[^2]) ? text.Length - 2 : text.Length - 1;

    /// <summary>True when a path names a conflicted copy.</summary>
    public static bool IsConflictedCopy(string path) => path.Contains(Marker, StringComparison.Ordinal);
}
