using Dropbox.Shared.IO;
using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The executor's deletes here: a remote delete's file is taken off its name, checked against what the plan saw, and
/// moved to the trash under the state directory (<see cref="LocalTrash"/>), or put back when it was written meanwhile;
/// the folders it leaves empty go; a folder deleted remotely goes once empty. One per pass, made by the
/// <see cref="SyncExecutor"/> that runs it, with its summary and its conflicted-copy names; what the cursor must know
/// comes back through <see cref="HoldCursor"/>.
/// </summary>
internal sealed class LocalDeletes
{
    private readonly SyncContext _ctx;
    private readonly SyncSummary _summary;
    private readonly Func<string, string> _conflictName;

    /// <param name="ctx">The folder, the db and the knobs.</param>
    /// <param name="summary">This pass's summary.</param>
    /// <param name="conflictName">The executor's conflicted-copy names (each taken once per pass).</param>
    public LocalDeletes(SyncContext ctx, SyncSummary summary, Func<string, string> conflictName)
    {
        _ctx = ctx;
        _summary = summary;
        _conflictName = conflictName;
    }

    /// <summary>Set when a delete waits for a file written moments ago: the cursor must stay put, so the next pass plans it again.</summary>
    public bool HoldCursor { get; private set; }

    /// <summary>
    /// A remote delete of a file here (<see cref="SyncActionKind.DeleteLocal"/>, or a file as synced replaced remotely by a
    /// folder): the file goes to the trash only while it is as the plan saw it, else it is kept and its row forgotten (the
    /// next pass sends it as new); one written moments ago waits, the cursor held (<see cref="HoldCursor"/>).
    /// </summary>
    public void DeleteLocal(SyncAction a)
    {
        var full = _ctx.WritePath(a.Path);
        var info = new FileInfo(full);
        if (info.Exists)
        {
            if (a.Local is null || FileStamp.Of(info) != FileStamp.Of(a.Local)
                || FileStamp.ChangeTimeMoved(a.Fingerprint?.ChangeTimeNs ?? a.Local.ChangeTimeNs, FileChangeTime.TryGet(full)))
            {
                // Changed since the plan: kept, and its row forgotten, so the next pass sends it as a new file, whatever
                // changed (an edit, or only its inode: renamed away and back, chmod). With the row kept, a file changed
                // only in its ctime was found as synced next pass, after the cursor had moved past the delete: on this
                // device alone for good (simulation seed 20495). Holding the cursor instead re-planned the delete, which
                // after a confirmed mass delete stopped the next pass at the guard again.
                // Counted pending, so a daemon runs the pass that sends it within seconds, not at its next rescan (a
                // change of the ctime alone may have woken no watcher).
                _ctx.Db.Forget(a.Path);
                _summary.AddPending();
                _summary.AddNote($"'{a.Path}' was deleted remotely but changed here; kept, and sent again as a new file");
                return;
            }

            if (a.Fingerprint is { Racy: true })
            {
                // Read too soon after its last write for size and mtime to prove it unchanged (see RacyClean): it
                // may hold newer bytes than the synced ones. Keep it for now, and keep the cursor, so the next pass
                // plans the delete again; once a read past the stable age shows it unchanged, it goes.
                HoldCursor = true;
                _summary.AddPending();
                _summary.AddNote($"'{a.Path}' was deleted remotely but was written here moments ago; it is deleted once it has settled");
                return;
            }

            // Taken off its name first (a rename beside it, one step on the folder's own file system), then checked: what
            // the rename took is what counts, and only a file still as synced goes on to the trash.
            _ctx.Step?.Invoke($"before trashing {a.Path}");
            var holding = LocalTrash.TakeAside(full);
            _ctx.Step?.Invoke($"after trashing {a.Path}");
            var at = FileStamp.Of(new FileInfo(holding)) != FileStamp.Of(a.Local!) ? holding : MoveToTrash(a, full, holding);
            if (at is not null)
            {
                // Written between the check above and the rename (a rename keeps size and mtime, so the held file still
                // shows the write), or before the last look in the trash: the new bytes go back to the folder and the
                // next pass sends them.
                PutBack(a.Path, full, at);
                return;
            }

            RemoveEmptyParents(a.Path);
        }

        _ctx.Db.Forget(a.Path);
        _summary.AddFileDeleted();
        _ctx.Progress.Log($"deleted locally '{a.Path}' (kept in the trash under the state directory)");
    }

    /// <summary>
    /// Moves the held file into the trash (<see cref="LocalTrash.TryMoveIn"/>): null when it is there, still as synced, else
    /// where it is now, to be put back. Where the trash cannot take it (a full or read-only state disk), it goes back to its
    /// name and the error is the pass's: the delete is planned again next pass, and the folder is as it was.
    /// </summary>
    private string? MoveToTrash(SyncAction a, string full, string holding)
    {
        var path = a.Path;
        _ctx.Step?.Invoke($"before moving {path} into the trash");
        try
        {
            return LocalTrash.TryMoveIn(holding, LocalTrash.DayFolder(_ctx.State.StateDirectory, _ctx.Time.GetUtcNow()), path, FileStamp.Of(a.Local!),
                _ctx.Step is { } step ? what => step($"{what} {path}") : null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (File.Exists(holding) && !TryPutBack(holding, full))
            {
                MoveBack(holding, ConflictName(path));
                _ctx.Db.Forget(path);
            }

            throw;
        }
    }

    /// <summary>
    /// Puts a file the delete took by mistake (<paramref name="holding"/>, beside its name) back at its name, or where
    /// something took the name meanwhile (a new file, a folder), to a conflicted-copy name beside it. The row goes either
    /// way: the next pass sends what is at the name as a new file (the cursor has moved past the delete, so a row kept for
    /// a write that left size and mtime as synced would have been found clean, never sent). Each is a rename in the one
    /// folder, never a copy.
    /// </summary>
    private void PutBack(string path, string full, string holding)
    {
        _ctx.Step?.Invoke($"before putting back {path}");
        var back = TryPutBack(holding, full) ? path : MoveBack(holding, ConflictName(path));
        _ctx.Db.Forget(path); // either way the next pass sends what is there as new (a write that kept the synced bytes too)
        _summary.AddPending(); // and a daemon runs that pass soon (see DeleteLocal)

        _summary.AddNote($"'{path}' was deleted remotely but changed here while it was deleted; kept{(back == path ? string.Empty : $" as '{back}'")}");
    }

    /// <summary>Moves the held file to <paramref name="target"/> unless something is there; false when something is.</summary>
    private static bool TryPutBack(string holding, string target)
    {
        try
        {
            return FileRename.MoveNewElseMove(holding, target) == RenameOutcome.Done;
        }
        catch (IOException) when (Path.Exists(target))
        {
            return false; // elsewhere than Linux: taken between File.Move's look and its rename
        }
    }

    private string MoveBack(string holding, string path)
    {
        File.Move(holding, _ctx.WritePath(path));
        return path;
    }

    /// <summary>Deletes the folders above <paramref name="path"/> left empty, nearest first, stopping at one not empty or one the db records (made explicitly).</summary>
    public void RemoveEmptyParents(string path)
    {
        var parent = SyncPaths.Parent(path);
        if (parent.Length == 0)
        {
            return;
        }

        // Resolved once, deepest first (no link on the way); each folder above is a prefix of it.
        var dir = _ctx.WritePath(parent);
        for (; parent.Length > 0; parent = SyncPaths.Parent(parent), dir = Path.GetDirectoryName(dir)!)
        {
            if (_ctx.State.GetFile(parent) is not null)
            {
                return; // a folder the user made explicitly stays
            }

            if (!Directory.Exists(dir) || Directory.EnumerateFileSystemEntries(dir).Any())
            {
                return;
            }

            Directory.Delete(dir);
        }
    }

    /// <summary>A remote delete of a folder here (<see cref="SyncActionKind.DeleteLocalFolder"/>): it goes only when empty; its row goes either way.</summary>
    public void DeleteLocalFolder(string path)
    {
        var dir = _ctx.WritePath(path);
        if (Directory.Exists(dir) && !Directory.EnumerateFileSystemEntries(dir).Any())
        {
            _ctx.Step?.Invoke($"before local folder delete {path}");
            Directory.Delete(dir);
            _ctx.Step?.Invoke($"after local folder delete {path}");
        }

        _ctx.Db.Forget(path);
    }

    private string ConflictName(string path) => _conflictName(path);
}
