using System.Security.Cryptography;
using System.Text;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// The names of the client's own temp files (a download's bytes before they are renamed into place, a file-system
/// probe): <see cref="IgnoreMatcher.TempPrefix"/> then 32 lowercase hex digits. Every scan ignores the prefix, and the
/// scan that sweeps leftovers of a killed client removes only names of exactly this form, so it is made and recognized
/// here only.
/// </summary>
internal static class TempName
{
    private const int HexDigits = 32;

    /// <summary>The start of every name <see cref="NewDisplaced"/> makes.</summary>
    private const string DisplacedPrefix = IgnoreMatcher.TempPrefix + "displaced-";

    /// <summary>Longest file name, in UTF-8 bytes, that every file system the client runs on takes (Linux NAME_MAX).</summary>
    private const int MaxNameBytes = 255;

    /// <summary>
    /// A new name. The digits come from the process's random generator, not Guid.NewGuid (a read of the kernel's random
    /// device per file); callers create it with CreateNew, so a clash fails that one file and never overwrites one.
    /// </summary>
    public static string New() => IgnoreMatcher.TempPrefix + RandomNumberGenerator.GetHexString(HexDigits, lowercase: true);

    /// <summary>
    /// A hidden holding name beside a user's file, for a file taken off its name while it is looked at: a remote delete's
    /// file on its way to the trash (LocalTrash.TakeAside), and, in the client of stop 26, a file a download displaced
    /// (that client's names carry no original name; this one's may; tests stand in for what it left). A client killed
    /// while the file is held leaves it: the next pass finds it (<see cref="IsDisplaced"/>) and keeps it as a conflicted
    /// copy, or removes it when it holds bytes the server has (the planner's rule, DisplacedRules).
    /// </summary>
    public static string NewDisplaced(string originalName)
    {
        var name = DisplacedPrefix + RandomNumberGenerator.GetHexString(HexDigits, lowercase: true);
        var withOriginal = string.Concat(name, "-", originalName);
        return originalName.Length > 0 && Encoding.UTF8.GetByteCount(withOriginal) <= MaxNameBytes ? withOriginal : name;
    }

    /// <summary>
    /// True for a name <see cref="NewDisplaced"/> makes; <paramref name="originalName"/> is then the name of the file it
    /// displaced, or null where it did not fit.
    /// </summary>
    public static bool IsDisplaced(string name, out string? originalName)
    {
        originalName = null;
        if (name.Length < DisplacedPrefix.Length + HexDigits
            || !name.StartsWith(DisplacedPrefix, StringComparison.Ordinal)
            || name.AsSpan(DisplacedPrefix.Length, HexDigits).IndexOfAnyExcept("0123456789abcdef") >= 0)
        {
            return false;
        }

        var rest = name.AsSpan(DisplacedPrefix.Length + HexDigits);
        if (rest.IsEmpty)
        {
            return true;
        }

        if (rest.Length < 2 || rest[0] != '-')
        {
            return false;
        }

        originalName = rest[1..].ToString();
        return true;
    }

    /// <summary>True for a name <see cref="New"/> makes.</summary>
    public static bool IsOwn(string name) =>
        name.Length == IgnoreMatcher.TempPrefix.Length + HexDigits
        && name.StartsWith(IgnoreMatcher.TempPrefix, StringComparison.Ordinal)
        && name.AsSpan(IgnoreMatcher.TempPrefix.Length).IndexOfAnyExcept("0123456789abcdef") < 0;
}
