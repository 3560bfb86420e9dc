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
/// The bytes of each are kept too (<see cref="State.IgnoreRulesStore"/>): one that is there but cannot be read (not
/// permitted, not a regular file, too large, changing while read) has those bytes' rules applied in its place, so what its
/// rules kept off the server stays off, and it is no change while it stays so (no listing a pass).
/// </summary>
internal static class IgnoreFileMemory
{
    /// <summary>Remembered in place of a hash for a new ignore file with a negation that no full listing has seen: no file hashes to it.</summary>
    internal const string ListingDue = "listing-due";

    /// <summary>
    /// The setting's text for the ignore files a scan read or applied (folder, hash, has a negation, bytes, inode): a line
    /// each, hex hash, a tab, the folder; and the bytes to keep with it (folder, hex hash of the bytes, bytes, inode). A
    /// folder whose file was read again at the pass's start, or found unreadable then and remembered (<paramref name="atStart"/>,
    /// see <see cref="Check"/>), is remembered with that reading, not the scan's: an edit made while the pass ran then
    /// differs from what is remembered, and the next pass lists everything. A file not remembered before that has a negation is
    /// remembered as <see cref="ListingDue"/> unless this pass <paramref name="listed"/> everything, so the next pass lists.
    /// One read at the start that the scan did not read (removed meanwhile) is remembered as read at the start: the next
    /// pass finds it gone and lists everything.
    /// </summary>
    public static (string Text, List<(string Folder, string Hash, byte[] Content, ulong? Inode)> Files) Describe(
        IEnumerable<(string Folder, byte[] Hash, bool Negates, byte[] Content, ulong? Inode)> files,
        IReadOnlyDictionary<string, (string Hash, byte[] Content, ulong? Inode)>? atStart = null, bool listed = true)
    {
        var lines = new Dictionary<string, string>(StringComparer.Ordinal);
        var kept = new List<(string Folder, string Hash, byte[] Content, ulong? Inode)>();
        foreach (var (folder, start) in atStart ?? new Dictionary<string, (string, byte[], ulong?)>())
        {
            lines[folder] = start.Hash;
            kept.Add((folder, start.Hash, start.Content, start.Inode));
        }

        foreach (var f in files)
        {
            if (!lines.ContainsKey(f.Folder))
            {
                var hash = Convert.ToHexString(f.Hash);
                lines[f.Folder] = f.Negates && !listed ? ListingDue : hash;
                kept.Add((f.Folder, hash, f.Content, f.Inode));
            }
        }

        return (string.Join('\n', lines.Select(l => l.Value + "\t" + l.Key).Order(StringComparer.Ordinal)), kept);
    }

    /// <summary>
    /// The remembered bytes of a folder's ignore file, as <paramref name="row"/> (the db's row of a folder: hex hash and
    /// bytes) holds them, for a folder <paramref name="stored"/> (the setting) names with that hash (or as due a listing:
    /// the row has the bytes read then), and only when the bytes still hash to it; null where none are. By folder only: an
    /// unreadable ignore file under a folder renamed since has none (an inode number, which could tell the same file,
    /// is reused by the file system for an unrelated one).
    /// </summary>
    public static Func<string, byte[]?> Remembered(string? stored, Func<string, (string Hash, byte[] Content)?> row)
    {
        var named = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (folder, value) in Parse(stored))
        {
            if (folder is not null)
            {
                named[folder] = value;
            }
        }

        return folder => named.TryGetValue(folder, out var value) && row(folder) is { } k && (value == k.Hash || value == ListingDue)
            && Convert.ToHexString(SHA256.HashData(k.Content)).Equals(k.Hash, StringComparison.Ordinal)
                ? k.Content
                : null;
    }

    /// <summary>
    /// Reads each remembered ignore file again (in <paramref name="stored"/>; null: nothing remembered, e.g. before this
    /// was kept) through <paramref name="readFile"/> (its folder-relative path; its bytes, or null and why not: a null
    /// reason when nothing is there): whether one now reads otherwise or not at all, and the hash and bytes of each that
    /// could be read (by folder), with its inode. One that is there but cannot be read (unreadable, not a regular file,
    /// too large, changing) whose folder's bytes are <paramref name="remembered"/> (see <see cref="Remembered"/>) is no change: the scan
    /// applies those bytes' rules in its place, and it is returned with the remembered hash and bytes, which the memory
    /// keeps. Without remembered bytes (or when it was due a listing) it is a change, as one removed is.
    /// </summary>
    public static (bool Changed, Dictionary<string, (string Hash, byte[] Content, ulong? Inode)> AtStart) Check(
        string? stored, Func<string, (byte[]? Bytes, string? Refusal, ulong? Inode)> readFile, Func<string, byte[]?>? remembered = null)
    {
        var atStart = new Dictionary<string, (string Hash, byte[] Content, ulong? Inode)>(StringComparer.Ordinal);
        var changed = false;
        foreach (var (folder, value) in Parse(stored))
        {
            if (folder is null)
            {
                changed = true; // not a line this build wrote: list once and write it anew
                continue;
            }

            var path = folder.Length == 0 ? IgnoreMatcher.IgnoreFileName : folder + "/" + IgnoreMatcher.IgnoreFileName;
            var (bytes, refusal, inode) = readFile(path);
            if (bytes is null)
            {
                if (refusal is not null && value != ListingDue && remembered?.Invoke(folder) is { } kept)
                {
                    atStart[folder] = (value, kept, inode);
                }
                else
                {
                    changed = true;
                }

                continue;
            }

            var hash = Convert.ToHexString(SHA256.HashData(bytes));
            atStart[folder] = (hash, bytes, inode);
            changed |= !hash.Equals(value, StringComparison.Ordinal);
        }

        return (changed, atStart);
    }

    /// <summary>The setting's lines: folder (null for a line this build did not write) and hash.</summary>
    private static IEnumerable<(string? Folder, string Value)> Parse(string? stored)
    {
        if (string.IsNullOrEmpty(stored))
        {
            yield break;
        }

        foreach (var line in stored.Split('\n'))
        {
            var tab = line.IndexOf('\t', StringComparison.Ordinal);
            yield return tab <= 0 ? (null, line) : (line[(tab + 1)..], line[..tab]);
        }
    }
}
