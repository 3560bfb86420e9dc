using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Names that differ only in case. A case-insensitive device (macOS, Windows) can hold only one of them, so, as
/// Dropbox does, both are kept under names that do not clash: one is renamed here to <c>name (Case Conflict).ext</c>,
/// which syncs like any file. Nothing stays withheld, so no edit to either stays on this disk. The name synced first
/// keeps it (see <see cref="LocalScanner"/>): a long-synced file never loses its name to a newcomer.
/// </summary>
internal sealed partial class SyncEngine
{
    /// <summary>The marker a renamed name carries.</summary>
    internal const string CaseConflictMarker = " (Case Conflict";

    /// <summary>The synced version of a tracked path (null: untracked): which of two names differing in case keeps its name (see <see cref="LocalScanner"/>).</summary>
    internal static Func<string, ulong?> SyncedVersionOf(Dictionary<string, BaseStat> index) =>
        path => index.TryGetValue(path, out var stat) ? stat.Version : null;

    /// <summary>The case-folded paths of the live remote entries this pass holds (null when none).</summary>
    internal static Dictionary<string, string>? RemoteFolds(RemoteView remote)
    {
        Dictionary<string, string>? folds = null;
        foreach (var (path, entry) in remote.Changes)
        {
            if (!entry.Deleted)
            {
                (folds ??= new Dictionary<string, string>(StringComparer.Ordinal))[SyncPaths.CaseFoldKey(path)] = path;
            }
        }

        return folds;
    }

    /// <summary>
    /// True when a local path would become a new path on the server (not synced, or synced but deleted or moved away
    /// remotely) while the server has a live path this pass that differs from it only in case.
    /// </summary>
    internal static bool ClashesRemotely(Dictionary<string, string>? folds, Dictionary<string, BaseStat> index, RemoteView remote, string path)
    {
        if (folds is null || !folds.TryGetValue(SyncPaths.CaseFoldKey(path), out var other) || other == path)
        {
            return false;
        }

        return !index.ContainsKey(path) || (remote.Changes.TryGetValue(path, out var own) && own.Deleted);
    }

    /// <summary>
    /// Renames each local name that clashes in case (with another here, or with a live remote path it would be
    /// created beside) to a <c>(Case Conflict)</c> name and takes it under that name in this pass.
    /// </summary>
    private void ResolveCaseConflicts(LocalSnapshot snapshot, Dictionary<string, BaseStat> index, RemoteView remote, Dictionary<string, string>? folds, SyncSummary summary)
    {
        var renames = new List<(string Path, bool IsDirectory)>(snapshot.CaseClashLosers);
        if (folds is not null)
        {
            foreach (var entry in snapshot.Entries.Values)
            {
                // Files only: a folder's contents are already in this pass under its old name. A synced file unchanged
                // here follows the remote (deleted, or renamed locally by a remote move).
                if (entry.Kind == FileKind.File && ClashesRemotely(folds, index, remote, entry.Path)
                    && !(index.TryGetValue(entry.Path, out var stat) && stat.Kind == entry.Kind && stat.Size == entry.Size && stat.MtimeTicks == entry.MtimeTicks))
                {
                    renames.Add((entry.Path, entry.Kind == FileKind.Folder));
                }
            }
        }

        var stability = _ctx.Stability();
        foreach (var (path, isDirectory) in renames)
        {
            if (!isDirectory && IsStillBeingWritten(path, snapshot, stability, out var settlesIn))
            {
                // Renamed mid-write, the writer's next bytes would go to a new file under the old name and the content
                // would end split across two files. Withheld (nothing of it uploaded, deleted or downloaded over) until
                // it settles; the daemon comes back for it then.
                summary.AddNote($"case conflict: '{path}' differs only in case from another name and is still being written; it is renamed once it settles");
                summary.AddPending();
                summary.RecheckWithin(settlesIn);
                snapshot.Withheld.Add(path);
                snapshot.Entries.Remove(path);
                continue;
            }

            var target = CaseConflictName(path, p => File.Exists(_ctx.FullPath(p)) || Directory.Exists(_ctx.FullPath(p)) || index.ContainsKey(p) || remote.Changes.ContainsKey(p));
            try
            {
                if (isDirectory)
                {
                    Directory.Move(_ctx.FullPath(path), _ctx.FullPath(target));
                }
                else
                {
                    File.Move(_ctx.FullPath(path), _ctx.FullPath(target), overwrite: false);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                summary.AddNote($"case conflict: could not rename '{path}' to '{target}' ({e.Message}); it is left alone until one of the names is changed");
                snapshot.Withheld.Add(path);
                snapshot.Entries.Remove(path);
                continue;
            }

            var note = $"case conflict: '{path}' differs only in case from another name; renamed to '{target}' so both sync";
            summary.AddNote(note);
            _ctx.Progress.Log(note);
            if (snapshot.Entries.Remove(path, out var entry))
            {
                snapshot.Entries[target] = entry with { Path = target };
            }
            else if (!isDirectory)
            {
                snapshot.Withheld.Remove(path);
                var info = new FileInfo(_ctx.FullPath(target));
                snapshot.Entries[target] = new LocalEntry(target, FileKind.File, info.Length, info.LastWriteTimeUtc.Ticks);
            }

            // A folder's contents were not scanned under either name: the old name stays withheld (nothing under it
            // is deleted anywhere) and the next pass takes the renamed folder, its files matched to the synced ones
            // by content.
        }
    }

    /// <summary>True when the file at <paramref name="path"/> may still be being written (see <see cref="Stability"/>).</summary>
    private bool IsStillBeingWritten(string path, LocalSnapshot snapshot, Stability stability, out TimeSpan settlesIn)
    {
        settlesIn = TimeSpan.Zero;
        long mtimeTicks;
        if (snapshot.Entries.TryGetValue(path, out var entry))
        {
            mtimeTicks = entry.MtimeTicks;
        }
        else
        {
            var info = new FileInfo(_ctx.FullPath(path));
            if (!info.Exists)
            {
                return false; // gone meanwhile: the rename below says so
            }

            mtimeTicks = info.LastWriteTimeUtc.Ticks;
        }

        return stability.IsUnsettled(path, mtimeTicks, out settlesIn);
    }

    /// <summary><c>dir/name (Case Conflict).ext</c>, then <c>(Case Conflict 2)</c>... the first <paramref name="isTaken"/> refuses.</summary>
    internal static string CaseConflictName(string path, Func<string, bool> isTaken)
    {
        var slash = path.LastIndexOf('/');
        var directory = slash >= 0 ? path[..(slash + 1)] : string.Empty;
        var name = slash >= 0 ? path[(slash + 1)..] : path;
        var dot = name.LastIndexOf('.');
        var (stem, extension) = dot > 0 ? (name[..dot], name[dot..]) : (name, string.Empty);
        for (var n = 1; n < 10_000; n++)
        {
            var candidate = $"{directory}{stem}{CaseConflictMarker}{(n == 1 ? string.Empty : " " + n.ToString(System.Globalization.CultureInfo.InvariantCulture))}){extension}";
            if (!isTaken(candidate))
            {
                return candidate;
            }
        }

        throw new IOException($"Could not find a free case-conflict name for '{path}' after 10000 tries; rename it by hand.");
    }
}
