using System.Security.Cryptography;
using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The <c>.dropboxignore</c> files the last pass that set its cursor read, kept in the db (<see cref="State.StateKeys.IgnoreFiles"/>):
/// a remote file at a path ignored here is never taken, and the change feed does not list it again, so when a rule goes
/// (an ignore file edited or removed) only a full listing finds what it had kept out. Before the remote side is read, each
/// remembered file is read again; one that changed or is gone makes the pass list everything. A new ignore file only
/// ignores more, unless it has a negation (<c>!</c>), which may undo a rule from a file above: such a file, found by the
/// scan after the remote side was read, is remembered as due a listing, so the next pass lists everything.
/// </summary>
internal static class IgnoreFileMemory
{
    /// <summary>Remembered in place of a hash for a new ignore file with a negation that no full listing has seen: no file hashes to it.</summary>
    internal const string ListingDue = "listing-due";

    /// <summary>
    /// The setting's text for the ignore files a scan read: a line each, hex hash, a tab, the folder. A folder whose file
    /// was read again at the pass's start (<paramref name="atStart"/>) is remembered with that reading, not the scan's: an
    /// edit made while the pass ran then differs from what is remembered, and the next pass lists everything. A file not
    /// remembered before that has a negation is remembered as <see cref="ListingDue"/> unless this pass
    /// <paramref name="listed"/> everything, so the next pass lists. One read at the start that the scan did not read
    /// (removed meanwhile) is remembered as read at the start: the next pass finds it gone and lists everything.
    /// </summary>
    public static string Describe(IEnumerable<(string Folder, byte[] Hash, bool Negates)> files, IReadOnlyDictionary<string, string>? atStart = null, bool listed = true)
    {
        var lines = new Dictionary<string, string>(atStart ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        foreach (var f in files)
        {
            if (!lines.ContainsKey(f.Folder))
            {
                lines[f.Folder] = f.Negates && !listed ? ListingDue : Convert.ToHexString(f.Hash);
            }
        }

        return string.Join('\n', lines.Select(l => l.Value + "\t" + l.Key).Order(StringComparer.Ordinal));
    }

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
