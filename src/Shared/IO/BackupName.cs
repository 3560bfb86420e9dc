using System.Globalization;
using System.Text.RegularExpressions;
using Dropbox.Shared.Errors;

namespace Dropbox.Shared.IO;

/// <summary>
/// The name of one online backup: its UTC start as <c>yyyyMMddTHHmmssZ</c>, with <c>-N</c> when several start in the
/// same second. Each node writes its part under its own backup folder in a folder of this name; a name is checked
/// against this form before it becomes part of a path, so a request cannot name a path.
/// </summary>
public static partial class BackupName
{
    /// <summary>
    /// The longest wait a snapshot request may ask a storage node to give compaction or scrub (a day): the storage node
    /// refuses more, and the metadata node's <c>--backup-hold-timeout</c> accepts no more.
    /// </summary>
    public const uint MaxHoldWaitSeconds = 86_400;

    /// <summary>The name for a backup started at <paramref name="now"/>, the <paramref name="attempt"/>-th of that second (0: none).</summary>
    public static string For(DateTimeOffset now, int attempt = 0)
    {
        var stamp = now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        return attempt == 0 ? stamp : string.Create(CultureInfo.InvariantCulture, $"{stamp}-{attempt}");
    }

    /// <summary>True if <paramref name="name"/> has the form of a backup name.</summary>
    public static bool IsValid(string? name) => name is not null && Pattern().IsMatch(name);

    /// <summary>Orders backup names by start, then by their <c>-N</c> (ordinal order would put -10 before -2).</summary>
    public static int Compare(string a, string b)
    {
        var byStamp = string.CompareOrdinal(a[..16], b[..16]);
        return byStamp != 0 ? byStamp : Suffix(a).CompareTo(Suffix(b));
    }

    private static int Suffix(string name) => name.Length > 17 ? int.Parse(name.AsSpan(17), CultureInfo.InvariantCulture) : 0;

    /// <summary>Returns <paramref name="name"/> if it is a backup name; else InvalidArgument saying what one looks like.</summary>
    public static string Validate(string? name) =>
        name is not null && Pattern().IsMatch(name)
            ? name
            : throw new DropboxException(ErrorKind.InvalidArgument, $"'{name}' is not a backup name (a UTC stamp such as 20261201T224501Z, optionally -N); nothing was written.");

    [GeneratedRegex(@"^[0-9]{8}T[0-9]{6}Z(-[0-9]{1,4})?\z", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
