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
    /// <summary>
    /// The setting's text for the ignore files a scan read: a line each, hex hash, a tab, the folder. A folder whose file
    /// was read again at the pass's start (<paramref name="atStart"/>) is remembered with that reading, not the scan's: an
    /// edit made while the pass ran then differs from what is remembered, and the next pass lists everything.
    /// </summary>
    public static string Describe(IEnumerable<(string Folder, byte[] Hash)> files, IReadOnlyDictionary<string, string>? atStart = null) =>
        string.Join('\n', files.Select(f => (atStart?.GetValueOrDefault(f.Folder) ?? Convert.ToHexString(f.Hash)) + "\t" + f.Folder).Order(StringComparer.Ordinal));

    /// <summary>
    /// Reads each remembered ignore file again (in <paramref name="stored"/>; null: nothing remembered, e.g. before this
    /// was kept) through <paramref name="readFile"/> (its folder-relative path; null when it cannot be read): whether one
    /// now reads otherwise or not at all, and the hash of each that could be read (by folder).
    /// </summary>
    public static (bool Changed, Dictionary<string, string> Hashes) Check(string? stored, Func<string, byte[]?> readFile)
    {
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        var changed = false;
        if (string.IsNullOrEmpty(stored))
        {
            return (false, hashes);
        }

        foreach (var line in stored.Split('\n'))
        {
            var tab = line.IndexOf('\t', StringComparison.Ordinal);
            if (tab <= 0)
            {
                changed = true; // not a line this build wrote: list once and write it anew
                continue;
            }

            var folder = line[(tab + 1)..];
            var path = folder.Length == 0 ? IgnoreMatcher.IgnoreFileName : folder + "/" + IgnoreMatcher.IgnoreFileName;
            if (readFile(path) is not { } bytes)
            {
                changed = true;
                continue;
            }

            var hash = Convert.ToHexString(SHA256.HashData(bytes));
            hashes[folder] = hash;
            changed |= !hash.Equals(line[..tab], StringComparison.Ordinal);
        }

        return (changed, hashes);
    }
}
