using System.Security.Cryptography;

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

    /// <summary>
    /// A new name. The digits come from the process's random generator, not Guid.NewGuid (a read of the kernel's random
    /// device per file); callers create it with CreateNew, so a clash fails that one file and never overwrites one.
    /// </summary>
    public static string New() => IgnoreMatcher.TempPrefix + RandomNumberGenerator.GetHexString(HexDigits, lowercase: true);

    /// <summary>True for a name <see cref="New"/> makes.</summary>
    public static bool IsOwn(string name) =>
        name.Length == IgnoreMatcher.TempPrefix.Length + HexDigits
        && name.StartsWith(IgnoreMatcher.TempPrefix, StringComparison.Ordinal)
        && name.AsSpan(IgnoreMatcher.TempPrefix.Length).IndexOfAnyExcept("0123456789abcdef") < 0;
}
