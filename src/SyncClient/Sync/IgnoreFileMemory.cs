using System.Security.Cryptography;
using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The <c>.dropboxignore</c> files the last completed pass read, kept in the db (<see cref="State.StateKeys.IgnoreFiles"/>):
/// a remote file at a path ignored here is never taken, and the change feed does not list it again, so when a rule goes
/// (an ignore file edited or removed) only a full listing finds what it had kept out. Before the remote side is read, each
/// remembered file is read again; one that changed or is gone makes the pass list everything. A new ignore file only
/// ignores more (short of a negation undoing a rule from above), so it is remembered, not looked for.
/// </summary>
internal static class IgnoreFileMemory
{
    /// <summary>The setting's text for the ignore files a scan read: a line each, hex hash, a tab, the folder.</summary>
    public static string Describe(IEnumerable<(string Folder, byte[] Hash)> files) =>
        string.Join('\n', files.Select(f => Convert.ToHexString(f.Hash) + "\t" + f.Folder).Order(StringComparer.Ordinal));

    /// <summary>
    /// True when a remembered ignore file (in <paramref name="stored"/>; null: nothing remembered, e.g. before this was
    /// kept) now reads otherwise or not at all, read through <paramref name="readFile"/> (its full path from the folder's
    /// relative path; null when it cannot be read).
    /// </summary>
    public static bool Changed(string? stored, Func<string, byte[]?> readFile)
    {
        if (string.IsNullOrEmpty(stored))
        {
            return false;
        }

        foreach (var line in stored.Split('\n'))
        {
            var tab = line.IndexOf('\t', StringComparison.Ordinal);
            if (tab <= 0)
            {
                return true; // not a line this build wrote: list once and write it anew
            }

            var folder = line[(tab + 1)..];
            var path = folder.Length == 0 ? IgnoreMatcher.IgnoreFileName : folder + "/" + IgnoreMatcher.IgnoreFileName;
            if (readFile(path) is not { } bytes || !Convert.ToHexString(SHA256.HashData(bytes)).Equals(line[..tab], StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}
