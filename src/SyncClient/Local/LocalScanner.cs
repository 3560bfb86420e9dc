using System.IO.Enumeration;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// Walks the sync folder (stat only), reading each directory's <c>.dropboxignore</c> on the way down and
/// pruning ignored directories, and reports case clashes.
/// </summary>
internal sealed class LocalScanner
{
    private static readonly EnumerationOptions Options = new()
    {
        // An unreadable folder must throw, not list as empty: empty would read as "every file in it was deleted".
        IgnoreInaccessible = false,
        RecurseSubdirectories = false,
        AttributesToSkip = 0,
        ReturnSpecialDirectories = false,
    };

    private readonly string _root;
    private readonly IgnoreMatcher _ignore;
    private readonly string? _excludedFullPath;
    private readonly long? _staleTempCutoffTicks;

    /// <param name="root">The sync folder.</param>
    /// <param name="ignore">Rules in force before any <c>.dropboxignore</c> is read (normally <see cref="IgnoreMatcher.BuiltIn"/>).</param>
    /// <param name="excludedFullPath">A directory never scanned (the state directory, if it lives inside the folder).</param>
    /// <param name="staleTempCutoffTicks">
    /// When set (UTC ticks, the start of the pass), download temp files of our own naming (<see cref="TempName.IsOwn"/>)
    /// last written before it are deleted as they are met: leftovers of a download killed mid-way (no pass runs beside
    /// this one: the pass lock), which nothing else would ever remove.
    /// </param>
    public LocalScanner(string root, IgnoreMatcher ignore, string? excludedFullPath = null, long? staleTempCutoffTicks = null)
    {
        _staleTempCutoffTicks = staleTempCutoffTicks;
        _root = Path.GetFullPath(root);
        _ignore = ignore;
        _excludedFullPath = excludedFullPath is null ? null : Path.GetFullPath(excludedFullPath).TrimEnd(Path.DirectorySeparatorChar);
    }

    /// <summary>
    /// False where the folder cannot hold the owner-executable bit (<see cref="ExecutableBitProbe"/>): every file's bit
    /// is then reported as null (unknown).
    /// </summary>
    public bool ReadsExecutableBit { get; init; } = true;

    /// <summary>
    /// The stability rule each file entry is observed with, the clock read when the file is found (see
    /// <see cref="LocalEntry.SettlesIn"/>). Required: a scanner that silently observed nothing would pass every file
    /// being written off as settled to the planner; a caller that decides nothing from it says so with
    /// <see cref="Local.Stability.Off"/>.
    /// </summary>
    public required Stability Stability { get; init; }

    /// <summary>
    /// The remembered rules of a folder's <c>.dropboxignore</c> (by folder, "" for the top; see
    /// <see cref="Sync.IgnoreFileMemory.Remembered"/>), applied in its place where one is there but cannot be read (whole
    /// only where it is the very file read: see <see cref="Sync.IgnoreFileMemory.Applicable"/>), so what its rules kept off
    /// the server stays off; null, or null for a folder: none remembered (its rules are not applied).
    /// </summary>
    public Func<string, State.RememberedRules?>? RememberedIgnoreFile { get; init; }

    /// <summary>Scans the whole folder.</summary>
    public LocalSnapshot Scan(CancellationToken ct) => Scan(null, ct);

    /// <summary>
    /// Scans the whole folder, leaving out of the snapshot every path <paramref name="isClean"/> (path, kind, size,
    /// mtime ticks) calls clean: synced and unchanged, so nothing needs deciding for it. A pass over a large tree
    /// then holds an entry only for what changed.
    /// </summary>
    public LocalSnapshot Scan(Func<string, FileKind, long, long, bool>? isClean, CancellationToken ct) => Scan(isClean, null, ct);

    /// <summary>
    /// As <see cref="Scan(Func{string, FileKind, long, long, bool}?, CancellationToken)"/>; of names that differ only
    /// in case, one <paramref name="isTracked"/> (synced) says true for wins the clash, else the first in ordinal order.
    /// </summary>
    public LocalSnapshot Scan(Func<string, FileKind, long, long, bool>? isClean, Func<string, bool>? isTracked, CancellationToken ct) =>
        Scan(isClean is null ? null : (path, kind, size, mtime, _, _) => isClean(path, kind, size, mtime),
            isTracked is null ? null : path => isTracked(path) ? 0UL : null, ct);

    /// <summary>
    /// As <see cref="Scan(Func{string, FileKind, long, long, bool}?, Func{string, bool}?, CancellationToken)"/>, with the
    /// file's owner-executable bit (a chmod alone is a change) and its inode change time (ns, null where not read) as the
    /// last arguments of <paramref name="isClean"/>.
    /// </summary>
    /// <remarks>
    /// Of names that differ only in case, the one on the server first keeps its name: one on the server
    /// (<paramref name="syncedVersion"/> not null; the engine passes the server's version as this pass sees the server,
    /// see <see cref="Sync.CaseConflicts.ServerVersionOf"/>) before one that is not, then the lower version (the same
    /// answer on every device that sees the same server), then ordinal order. The others are the clash's losers (renamed to a
    /// <c>(Case Conflict)</c> name by the engine), so a long-synced file never loses its name to a newcomer.
    /// </remarks>
    public LocalSnapshot Scan(Func<string, FileKind, long, long, bool?, long?, bool>? isClean, Func<string, ulong?>? syncedVersion, CancellationToken ct)
    {
        var snapshot = new LocalSnapshot();

        // Names that differ only in case can only clash within one directory (a clashing parent is not descended
        // into), so the case-fold index is per directory rather than one entry per path in the tree.
        var folded = new Dictionary<string, string>(StringComparer.Ordinal);
        var children = new List<Child>();
        var stack = new Stack<(string FullPath, string Relative, IgnoreMatcher Ignore)>();
        stack.Push((_root, string.Empty, _ignore));
        var tree = new IgnoreTree(_ignore);
        snapshot.Ignore = tree;
        while (stack.Count > 0)
        {
            ct.ThrowIfCancellationRequested();
            var (dirFull, relativeDir, ignore) = stack.Pop();
            var hasChildren = false;
            folded.Clear();
            children.Clear();
            try
            {
                // Straight from the directory entries: no FileInfo per path, only the name and the stat fields used.
                children.AddRange(new FileSystemEnumerable<Child>(dirFull, static (ref FileSystemEntry e) => ToChild(ref e), Options));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                snapshot.Skipped.Add($"{relativeDir}/: {e.Message}; nothing under it syncs (or is deleted anywhere) until it can be read");
                snapshot.Withheld.Add(relativeDir);
                continue;
            }

            ignore = ReadIgnoreFile(children, dirFull, relativeDir, ignore, tree, snapshot);

            OrderCaseClashes(children, relativeDir, syncedVersion);

            HashSet<string>? listed = null; // this folder's names as on disk, made only if one is not composed
            HashSet<string>? replaced = null; // names with U+FFFD listed as both a file and a folder here, made only if one has U+FFFD
            HashSet<string>? seenReplaced = null; // this folder's names with U+FFFD taken so far
            foreach (var child in children)
            {
                var name = Normalize(child.Name);
                var relative = relativeDir.Length == 0 ? name : string.Concat(relativeDir, "/", name);
                var isDirectory = child.IsDirectory;
                if (!isDirectory && !child.IsLink && TempName.IsDisplaced(child.Name, out var displacedName))
                {
                    // A user's file a download displaced, left by a client stopped while it looked at it: reported, never
                    // swept. Its own path as on disk (the engine moves it), the one it displaced as the scan names paths.
                    var original = displacedName is null ? null : relativeDir.Length == 0 ? Normalize(displacedName) : string.Concat(relativeDir, "/", Normalize(displacedName));
                    snapshot.Displaced.Add((relativeDir.Length == 0 ? child.Name : string.Concat(relativeDir, "/", child.Name), original));
                    continue;
                }

                if (_staleTempCutoffTicks is { } cutoff && !isDirectory && !child.IsLink && child.MtimeTicks < cutoff && TempName.IsOwn(child.Name))
                {
                    RemoveStaleTemp(Path.Combine(dirFull, child.Name), relative, snapshot);
                    continue;
                }

                if (ignore.IsIgnored(relative, isDirectory))
                {
                    continue;
                }

                if (isDirectory && _excludedFullPath is not null && string.Equals(child.FullPath!.TrimEnd(Path.DirectorySeparatorChar), _excludedFullPath, StringComparison.Ordinal))
                {
                    // Never listed, yet its folder is not empty: a folder that holds only the state directory is never
                    // created on the server on its own.
                    hasChildren = true;
                    continue;
                }

                if (!Dropbox.Shared.Paths.PathRules.TryNormalize(relative, out _, out var invalid))
                {
                    snapshot.Skipped.Add($"{relative}: {invalid}");
                    snapshot.Withheld.Add(relative);
                    continue;
                }

                if (child.Name.Contains('\uFFFD', StringComparison.Ordinal))
                {
                    if (!Path.Exists(Path.Combine(dirFull, child.Name)))
                    {
                        // Its name's bytes on disk are not valid UTF-8 (decoded, each bad byte became U+FFFD): no path the
                        // client can name reaches it, so every read failed as "changed while uploading" at every pass.
                        snapshot.Skipped.Add($"{relative}: its name on disk is not valid UTF-8; not synced{NorInside(isDirectory)} until it is renamed");
                        snapshot.Withheld.Add(relative);
                        hasChildren = true; // the folder holds something: it is not an empty folder to create (again) on the server
                        // Nothing for LocalSnapshot.Unnamable: its size and mtime were read through a name that reaches
                        // nothing (the framework's zeros), and a folder of it cannot be walked.
                        continue;
                    }

                    replaced ??= ReplacementNamesOfBothKinds(children);
                    if (replaced.Contains(child.Name))
                    {
                        // Two entries read as this name (one's bytes not valid UTF-8, decoded the same), a file and a folder:
                        // which one the path reaches cannot be told from the listing, so the path is withheld, both entries
                        // skipped before either is taken (as new, clean, or a folder to descend into).
                        if (snapshot.Withheld.Add(relative))
                        {
                            snapshot.Skipped.Add($"{relative}: two entries of this folder read as this name (one's name on disk is not valid UTF-8), a file and a folder; neither is synced until the one that is not valid UTF-8 is renamed");
                        }

                        hasChildren = true;
                        continue;
                    }

                    if (!(seenReplaced ??= new HashSet<string>(StringComparer.Ordinal)).Add(child.Name))
                    {
                        // A second entry read as this name: one of them really has U+FFFD in it (the path reaches that one, and
                        // both entries were read through the path, so both describe it), the other's bytes are not valid
                        // UTF-8 and decode the same. The path syncs as the first entry did; the other, which no path
                        // reaches, is left alone (never renamed as a case clash of the first, nor taken for it).
                        snapshot.Skipped.Add($"{relative}: another entry of this folder, whose name on disk is not valid UTF-8, reads as this name; that one is not synced{NorInside(isDirectory)} until it is renamed");
                        continue;
                    }
                }

                if (!string.Equals(name, child.Name, StringComparison.Ordinal))
                {
                    // Named on disk in decomposed Unicode (NFD, as files copied from a Mac often are): paths here and on the
                    // server are composed (NFC), and every later read, write or rename goes through the composed path.
                    listed ??= new HashSet<string>(children.Select(c => c.Name), StringComparer.Ordinal);
                    if (listed.Contains(name))
                    {
                        // Another entry of this folder has the composed spelling (two files on a file system that tells the
                        // forms apart, or two links to one): that one syncs under the path; this one is left alone, not
                        // withheld, so the composed entry's path keeps syncing.
                        snapshot.Skipped.Add($"{relative}: another entry of this folder has this name in composed Unicode (NFC) and syncs under it; this one, named on disk in decomposed Unicode (NFD), is not synced{NorInside(isDirectory)} until it is renamed to a name of its own");
                        continue;
                    }

                    if (!Path.Exists(Path.Combine(dirFull, name)))
                    {
                        // The composed path reaches nothing (ext4, tmpfs): every read of it would fail ("still changing" at
                        // every pass, never synced, a daemon passing every ~2 s). Withheld with the reason until renamed;
                        // neither side's file at the composed name is touched meanwhile.
                        snapshot.Skipped.Add($"{relative}: its name on disk is in decomposed Unicode (NFD, as files copied from a Mac often are); not synced{NorInside(isDirectory)} until it is renamed (typed again, the same name is composed)");
                        snapshot.Withheld.Add(relative);
                        AddUnnamable(snapshot, child);
                        hasChildren = true;
                        continue;
                    }

                    // The composed path reaches it (APFS, HFS+, ZFS with normalization do not tell the forms apart and list
                    // only this spelling): it syncs under the composed path, as it always did.
                }

                if (child.IsLink)
                {
                    snapshot.Skipped.Add($"{relative}: symbolic links are not synced");
                    snapshot.Withheld.Add(relative);
                    continue;
                }

                // A FIFO, socket or device has no content to sync, and opening a FIFO to read it blocks until a writer comes
                // (the pass would hang). They all show size 0, so only empty entries pay the one statx (or lstat) that tells.
                if (!isDirectory && child.Length == 0 && FileChangeTime.IsSpecial(Path.Combine(dirFull, child.Name)))
                {
                    snapshot.Skipped.Add($"{relative}: not a regular file (a FIFO, socket or device); not synced");
                    snapshot.Withheld.Add(relative);
                    continue;
                }

                var key = SyncPaths.CaseFoldKey(name);
                if (folded.TryGetValue(key, out var other))
                {
                    snapshot.CaseClashes.Add($"'{relative}' and '{other}' differ only in case; '{relative}' is not synced until one is renamed");
                    snapshot.Withheld.Add(relative);
                    snapshot.CaseClashLosers.Add((relative, isDirectory));
                    continue;
                }

                folded[key] = relative;
                hasChildren = true;
                if (isDirectory)
                {
                    if (isClean is null || !isClean(relative, FileKind.Folder, 0, 0, false, null))
                    {
                        snapshot.Entries[relative] = LocalEntry.Folder(relative);
                    }

                    stack.Push((child.FullPath!, relative, ignore));
                }
                else if (isClean is null || !isClean(relative, FileKind.File, child.Length, child.MtimeTicks, ReadsExecutableBit ? child.Executable : null, child.CtimeNs))
                {
                    snapshot.Entries[relative] = new LocalEntry(relative, FileKind.File, child.Length, child.MtimeTicks, Stability.SettlesIn(relative, child.MtimeTicks))
                    {
                        Executable = ReadsExecutableBit ? child.Executable : null,
                        ChangeTimeNs = child.CtimeNs,
                    };
                }
            }

            if (!hasChildren && relativeDir.Length > 0)
            {
                snapshot.EmptyFolders.Add(relativeDir);
            }
        }

        return snapshot;
    }

    private static void RemoveStaleTemp(string fullPath, string relative, LocalSnapshot snapshot)
    {
        try
        {
            File.Delete(fullPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            snapshot.Skipped.Add($"{relative}: a leftover download temp file could not be removed ({e.Message})");
        }
    }

    /// <summary>
    /// Adds the directory's own <c>.dropboxignore</c> (if any) to the rules inherited from above; where it is there but
    /// cannot be read, its remembered rules (<see cref="RememberedIgnoreFile"/>) in its place. A folder of that name is
    /// such a file too (not a regular one), as the pass's start check reads it.
    /// </summary>
    private IgnoreMatcher ReadIgnoreFile(List<Child> children, string dirFull, string relativeDir, IgnoreMatcher inherited, IgnoreTree tree, LocalSnapshot snapshot)
    {
        if (!children.Exists(c => c.Name == IgnoreMatcher.IgnoreFileName))
        {
            return inherited;
        }

        string hash, rules, applied;
        IgnoreFileStamp? stamp;
        var whole = true;
        if (IgnoreFileRead.TryRead(Path.Combine(dirFull, IgnoreMatcher.IgnoreFileName), out var refusal, out var now) is { } bytes)
        {
            // Only the rule lines are held from here on (a file of comments holds nothing): the bytes go once hashed.
            hash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes));
            rules = applied = Sync.IgnoreFileMemory.RuleText(bytes);
            stamp = now;
        }
        else
        {
            if (refusal is null)
            {
                return inherited; // gone since the folder was listed
            }

            var name = (relativeDir.Length == 0 ? string.Empty : relativeDir + "/") + IgnoreMatcher.IgnoreFileName;
            if (RememberedIgnoreFile?.Invoke(relativeDir) is not { Rules: { } kept } remembered)
            {
                snapshot.Skipped.Add($"{name}: not read, its rules are not applied ({refusal}); none are remembered (no completed pass read it, or its rules were past the {Sync.IgnoreFileMemory.MaxRememberedBytes >> 20} MiB of rules remembered)");
                return inherited;
            }

            applied = Sync.IgnoreFileMemory.Applicable(remembered, now, out whole);
            snapshot.Skipped.Add(whole
                ? $"{name}: not read ({refusal}); the rules last read from it are applied until it can be read"
                : $"{name}: not read ({refusal}); the rules last read from it are applied but for their '!' lines until it can be read (it is not provably the file they were read from: replaced or changed since)");
            (hash, rules, stamp) = (remembered.Hash, kept, remembered.Stamp);
        }

        var matcher = inherited.WithFile(relativeDir, Sync.IgnoreFileMemory.LinesOf(applied));
        tree.Set(relativeDir, matcher);
        snapshot.IgnoreFiles.Add((relativeDir, hash, Sync.IgnoreFileMemory.LinesOf(rules).Any(l => l.StartsWith('!')), rules, stamp, whole));
        return matcher;
    }

    /// <summary>
    /// When names in one directory differ only in case (rare), orders the directory so that of each such group the
    /// synced name comes first (it keeps its name), then the rest in ordinal order: which name wins the clash does not
    /// hang on the order the directory happens to list them in.
    /// </summary>
    private static void OrderCaseClashes(List<Child> children, string relativeDir, Func<string, ulong?>? syncedVersion)
    {
        if (children.Count < 2)
        {
            return;
        }

        // A cheap screen that allocates nothing per name; the exact case-fold key is computed only when it finds a pair.
        var names = new HashSet<string>(children.Count, StringComparer.OrdinalIgnoreCase);
        var clash = false;
        foreach (var child in children)
        {
            clash |= !names.Add(Normalize(child.Name));
        }

        if (!clash)
        {
            return;
        }

        var order = children.Select(c =>
        {
            var name = Normalize(c.Name);
            var version = syncedVersion?.Invoke(relativeDir.Length == 0 ? name : relativeDir + "/" + name);
            return (Child: c, Key: SyncPaths.CaseFoldKey(name), Version: version);
        }).OrderBy(x => x.Key, StringComparer.Ordinal).ThenBy(x => x.Version.HasValue ? 0 : 1).ThenBy(x => x.Version ?? 0)
            .ThenBy(x => x.Child.Name, StringComparer.Ordinal).Select(x => x.Child).ToList();
        children.Clear();
        children.AddRange(order);
    }

    /// <summary>
    /// A directory entry as the scan needs it. A file (or what the directory entry's type calls one) is looked at with
    /// one statx, which gives its type, size, mtime, mode and ctime together: the framework's entry would lstat it for
    /// the first four and have no ctime. Folders, and any entry statx cannot answer for, are read as the framework reads
    /// them (no ctime then: the file is compared by size and mtime alone).
    /// </summary>
    private static Child ToChild(ref FileSystemEntry e)
    {
        if (!e.IsDirectory && FileChangeTime.TryStat(e.ToFullPath()) is { Exists: true, IsDirectory: false } stat)
        {
            return new Child(e.FileName.ToString(), null, false, stat.IsSymbolicLink, stat.Size, stat.MtimeTicks, ExecutableBit.Of(stat.Permissions))
            {
                CtimeNs = stat.CtimeNs,
            };
        }

        return new Child(
            e.FileName.ToString(),
            e.IsDirectory ? e.ToFullPath() : null,
            e.IsDirectory,
            (e.Attributes & FileAttributes.ReparsePoint) != 0,
            e.IsDirectory ? 0 : e.Length,
            e.IsDirectory ? 0 : e.LastWriteTimeUtc.UtcTicks,
            !e.IsDirectory && !OperatingSystem.IsWindows() && ExecutableBit.Of(e.ToFileSystemInfo().UnixFileMode));
    }

    /// <summary>
    /// Records what an NFD name the composed path does not reach holds, for <see cref="LocalSnapshot.Unnamable"/> (it is
    /// read by its name as listed): a file's stamp, or a folder to walk when a pass needs it.
    /// </summary>
    private static void AddUnnamable(LocalSnapshot snapshot, Child child)
    {
        if (child.IsLink)
        {
            return; // a link is not synced (nor renamed into); one to a folder would be walked outside the sync folder
        }

        if (child.IsDirectory)
        {
            if (child.FullPath is { } folder && Directory.Exists(folder))
            {
                snapshot.UnnamableFolders.Add(folder);
            }
        }
        else
        {
            snapshot.Unnamable.Add(new FileStamp(child.Length, child.MtimeTicks));
        }
    }

    /// <summary>The names with U+FFFD in them that <paramref name="children"/> lists both as a file and as a folder.</summary>
    private static HashSet<string> ReplacementNamesOfBothKinds(List<Child> children)
    {
        var kinds = new Dictionary<string, bool>(StringComparer.Ordinal);
        var both = new HashSet<string>(StringComparer.Ordinal);
        foreach (var c in children)
        {
            if (c.Name.Contains('\uFFFD', StringComparison.Ordinal) && !kinds.TryAdd(c.Name, c.IsDirectory) && kinds[c.Name] != c.IsDirectory)
            {
                both.Add(c.Name);
            }
        }

        return both;
    }

    /// <summary>What a withheld folder's note adds: nothing under it syncs either.</summary>
    private static string NorInside(bool isDirectory) => isDirectory ? ", nor anything in it," : string.Empty;

    private static string Normalize(string name) => name.IsNormalized(System.Text.NormalizationForm.FormC) ? name : name.Normalize(System.Text.NormalizationForm.FormC);

    // A class, not a struct: FileSystemEnumerable<T> over a value type of ours is a generic instantiation the precompiled
    // image lacks (its enumerator's MoveNext was JIT-compiled at every start, ~3.5 KB of code); over a reference type
    // it runs the framework's shared precompiled code. One small object per directory entry.
    /// <summary>One directory entry as the scan needs it (full path only for directories, to descend into).</summary>
    private sealed record Child(string Name, string? FullPath, bool IsDirectory, bool IsLink, long Length, long MtimeTicks, bool Executable)
    {
        /// <summary>A file's inode change time (ns), null where it was not read.</summary>
        public long? CtimeNs { get; init; }
    }
}
