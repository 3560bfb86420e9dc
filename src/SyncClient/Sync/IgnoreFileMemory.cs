using System.Security.Cryptography;
using System.Text;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The <c>.dropboxignore</c> files the last pass that set its cursor read, kept in the db (<see cref="State.StateKeys.IgnoreFiles"/>):
/// a remote file at a path ignored here is never taken, and the change feed does not list it again, so when a rule goes
/// (an ignore file edited or removed) only a full listing finds what it had kept out. Before the remote side is read, each
/// remembered file is read again; one that changed or is gone makes the pass list everything. A new ignore file only
/// ignores more, unless it has a negation (<c>!</c>), which may undo a rule from a file above: such a file, found by the
/// scan after the remote side was read, is remembered as due a listing, so the next pass lists everything.
/// The rule lines of each (those that compile: no comment, no blank) are kept too, with the stamp of the file read
/// (<see cref="State.IgnoreRulesStore"/>), up to <see cref="MaxRememberedBytes"/> in all: one that is there but cannot be
/// read (not permitted, not a regular file, too large, changing while read) has those rules applied in its place, so what
/// its rules kept off the server stays off, and it is no change while it stays so (no listing a pass). They apply whole
/// only to the very file read (the same device, inode, size and mtime); to any other (replaced, grown, a FIFO or folder in
/// its place) only the lines that ignore apply, never a '!' one: ignoring more only keeps files here until it is readable.
/// </summary>
internal static class IgnoreFileMemory
{
    /// <summary>Remembered in place of a hash for a new ignore file with a negation that no full listing has seen: no file hashes to it.</summary>
    internal const string ListingDue = "listing-due";

    /// <summary>
    /// Put before the hash of a folder whose remembered rules were applied without their '!' lines (the file unreadable and
    /// not provably the one read): a remote change to a path a dropped line let in was skipped meanwhile, and the cursor
    /// moved past it. No file hashes to it, so once the file reads again (even the very same bytes) that is a change and
    /// the pass lists everything; while it stays unreadable it is none (its rows are still found, see <see cref="Remembered"/>).
    /// </summary>
    internal const string Partial = "partial:";

    /// <summary>
    /// The most rule text (UTF-8 bytes) remembered in all, and held from the pass's start check: past it, the remaining
    /// folders (by folder name) have no rules remembered, as a file no pass read (its rules are not applied while it
    /// cannot be read; the scan's note says so).
    /// </summary>
    internal const int MaxRememberedBytes = 4 << 20;

    /// <summary>The rule lines of an ignore file's bytes (those that compile; see <see cref="IgnoreMatcher.Lines"/>), joined by '\n'.</summary>
    public static string RuleText(byte[] bytes) => string.Join('\n', IgnoreMatcher.Lines(bytes).Where(l => IgnoreMatcher.Compile(l) is not null));

    /// <summary>The lines of a <see cref="RuleText"/>.</summary>
    public static IEnumerable<string> LinesOf(string rules) => rules.Length == 0 ? [] : rules.Split('\n');

    /// <summary>
    /// The rules of <paramref name="kept"/> to apply to the unreadable file seen as <paramref name="now"/>: all of them
    /// (<paramref name="whole"/>) when it is provably the file they were read from (its stamp then), else only the lines
    /// without a negation.
    /// </summary>
    public static string Applicable(RememberedRules kept, IgnoreFileStamp? now, out bool whole)
    {
        whole = kept.Stamp is { } then && now == then;
        var rules = kept.Rules ?? string.Empty;
        return whole ? rules : string.Join('\n', LinesOf(rules).Where(l => IgnoreMatcher.Compile(l) is { Negated: false }));
    }

    /// <summary>
    /// The setting's text for the ignore files a scan read or applied (folder, hex hash, has a negation, rule text, stamp):
    /// a line each, hex hash, a tab, the folder; and the rows to keep (folder and its rules), within
    /// <see cref="MaxRememberedBytes"/> (by folder name; <c>Unkept</c>: the folders past it, or with no rules held). A
    /// folder whose file was read again at the pass's start, or found unreadable then and remembered (<paramref name="atStart"/>,
    /// see <see cref="Check"/>), is remembered with that reading, not the scan's: an edit made while the pass ran then
    /// differs from what is remembered, and the next pass lists everything. A file not remembered before that has a negation is
    /// remembered as <see cref="ListingDue"/> unless this pass <paramref name="listed"/> everything, so the next pass lists.
    /// One read at the start that the scan did not read (removed meanwhile) is remembered as read at the start: the next
    /// pass finds it gone and lists everything. A folder whose remembered rules the scan applied without a '!' line (not
    /// whole) is remembered as <see cref="Partial"/> its hash, over the start's reading, its row without a stamp (so the
    /// '!' lines stay dropped until it reads again, which then lists everything).
    /// </summary>
    public static (string Text, List<(string Folder, RememberedRules Row)> Files, List<string> Unkept) Describe(
        IEnumerable<(string Folder, string Hash, bool Negates, string Rules, IgnoreFileStamp? Stamp, bool Whole)> files,
        IReadOnlyDictionary<string, RememberedRules>? atStart = null, bool listed = true)
    {
        var lines = new Dictionary<string, string>(StringComparer.Ordinal);
        var rows = new Dictionary<string, RememberedRules>(StringComparer.Ordinal);
        var scanned = new Dictionary<string, (string Hash, string Rules, IgnoreFileStamp? Stamp)>(StringComparer.Ordinal);
        var partial = new List<(string Folder, string Hash, string Rules)>();
        foreach (var f in files)
        {
            scanned[f.Folder] = (f.Hash, f.Rules, f.Stamp);
            if (!f.Whole && f.Negates)
            {
                partial.Add((f.Folder, f.Hash, f.Rules)); // without a '!' line nothing was dropped
            }

            if (atStart is null || !atStart.ContainsKey(f.Folder))
            {
                lines[f.Folder] = f.Negates && !listed ? ListingDue : f.Hash;
                rows[f.Folder] = new RememberedRules(f.Hash, f.Rules, f.Stamp);
            }
        }

        foreach (var (folder, start) in atStart ?? new Dictionary<string, RememberedRules>())
        {
            lines[folder] = start.Hash;
            // Past the start check's budget only the hash was held: the scan's rules, where it read the same bytes.
            rows[folder] = start.Rules is null && scanned.TryGetValue(folder, out var s) && s.Hash == start.Hash ? new RememberedRules(s.Hash, s.Rules, s.Stamp) : start;
        }

        foreach (var (folder, hash, rules) in partial)
        {
            lines[folder] = Partial + hash;
            rows[folder] = new RememberedRules(hash, rules, Stamp: null);
        }

        var kept = new List<(string Folder, RememberedRules Row)>();
        var unkept = new List<string>();
        long budget = MaxRememberedBytes;
        foreach (var (folder, row) in rows.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            var size = row.Rules is null ? -1 : Encoding.UTF8.GetByteCount(row.Rules);
            if (size < 0 || size > budget)
            {
                unkept.Add(folder);
                continue;
            }

            budget -= size;
            kept.Add((folder, row));
        }

        return (string.Join('\n', lines.Select(l => l.Value + "\t" + l.Key).Order(StringComparer.Ordinal)), kept, unkept);
    }

    /// <summary>
    /// The remembered rules of a folder's ignore file, as <paramref name="row"/> (the db's row of a folder) holds them, for
    /// a folder <paramref name="stored"/> (the setting) names with that row's hash (or as due a listing: the row has the
    /// rules read then; or as <see cref="Partial"/> that hash); null where none are. By folder only: an unreadable ignore file under a folder renamed since has
    /// none (an inode number, which could tell the same file, is reused by the file system for an unrelated one).
    /// </summary>
    public static Func<string, RememberedRules?> Remembered(string? stored, Func<string, RememberedRules?> row)
    {
        var named = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (folder, value) in Parse(stored))
        {
            if (folder is not null)
            {
                named[folder] = value;
            }
        }

        return folder => named.TryGetValue(folder, out var value) && row(folder) is { Rules: not null } k && (value == k.Hash || value == ListingDue || value == Partial + k.Hash) ? k : null;
    }

    /// <summary>
    /// Reads each remembered ignore file again (in <paramref name="stored"/>; null: nothing remembered, e.g. before this
    /// was kept) through <paramref name="readFile"/> (its folder-relative path; its bytes, or null and why not: a null
    /// reason when nothing is there; and its stamp): whether one now reads otherwise or not at all, and the hash, rule text
    /// (null past <see cref="MaxRememberedBytes"/> in all: the bytes are dropped once hashed and parsed) and stamp of each
    /// that could be read (by folder). One that is there but cannot be read (unreadable, not a regular file, too large,
    /// changing) whose folder's rules are <paramref name="remembered"/> (see <see cref="Remembered"/>) is no change: the
    /// scan applies those rules in its place (see <see cref="Applicable"/>), and it is returned as remembered, which the
    /// memory keeps. Without remembered rules (or when it was due a listing) it is a change, as one removed is.
    /// </summary>
    public static (bool Changed, Dictionary<string, RememberedRules> AtStart) Check(
        string? stored, Func<string, (byte[]? Bytes, string? Refusal, IgnoreFileStamp? Stamp)> readFile, Func<string, RememberedRules?>? remembered = null)
    {
        var atStart = new Dictionary<string, RememberedRules>(StringComparer.Ordinal);
        var changed = false;
        long budget = MaxRememberedBytes;
        foreach (var (folder, value) in Parse(stored))
        {
            if (folder is null)
            {
                changed = true; // not a line this build wrote: list once and write it anew
                continue;
            }

            var path = folder.Length == 0 ? IgnoreMatcher.IgnoreFileName : folder + "/" + IgnoreMatcher.IgnoreFileName;
            var (bytes, refusal, stamp) = readFile(path);
            if (bytes is null)
            {
                if (refusal is not null && value != ListingDue && remembered?.Invoke(folder) is { } kept)
                {
                    atStart[folder] = kept;
                    budget -= Encoding.UTF8.GetByteCount(kept.Rules ?? string.Empty);
                }
                else
                {
                    changed = true;
                }

                continue;
            }

            var hash = Convert.ToHexString(SHA256.HashData(bytes));
            var rules = RuleText(bytes);
            var size = Encoding.UTF8.GetByteCount(rules);
            atStart[folder] = new RememberedRules(hash, size <= budget ? rules : null, stamp);
            budget -= size <= budget ? size : 0;
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
