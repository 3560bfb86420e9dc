using Dropbox.Shared.IO;
using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The executor's hands for hidden leftovers (a user's file a download or a remote delete took aside, left by a client
/// stopped while it looked at it; see <see cref="LocalTrash"/>): the planner decided each (<see cref="DisplacedRules"/>),
/// this carries it out. A removal looks again and goes through the trash's checked move (<see cref="TryRemove"/>); a kept
/// one moves to a conflicted-copy name beside the file it displaced, never over anything (<see cref="Keep"/>). The
/// executor sends a kept copy as new (<see cref="SyncExecutor"/>).
/// </summary>
/// <param name="ctx">The folder, the db's state directory (the trash) and the clock.</param>
/// <param name="summary">This pass's summary.</param>
/// <param name="conflictName">The executor's conflicted-copy names (each one given once a pass).</param>
internal sealed class DisplacedFiles(SyncContext ctx, SyncSummary summary, Func<string, string> conflictName)
{
    /// <summary>The name a displaced file is kept under, beside it, where its holding name could not carry its own.</summary>
    internal const string FallbackName = "displaced file";

    /// <summary>ENAMETOOLONG (Linux), the code a failed rename's <see cref="IOException.HResult"/> carries (<see cref="FileRename"/>).</summary>
    private const int NameTooLongErrno = 36;

    /// <summary>Most conflicted-copy names tried for one displaced file when each is taken at the moment of the move.</summary>
    private const int MaxDisplacedMoves = 8;

    /// <summary>Tests: runs with the full path of the conflicted-copy name picked for a leftover, right before the move to it.</summary>
    internal Action<string>? BeforeMove { get; set; }

    /// <summary>The ignore rules of the pass's scan: a copy kept under a name they match stays here, not sent.</summary>
    public IgnoreTree Ignore { get; set; } = IgnoreTree.BuiltIn;

    /// <summary>
    /// A <see cref="SyncActionKind.RemoveDisplaced"/>: the leftover into the trash (the server holds its bytes; the trash
    /// keeps them here too), looked at again first and after (<see cref="LocalTrash.TryMoveIn"/>). True when done with it
    /// (in the trash, or, where it could not be moved, still hidden for the next pass); false when it was written since it
    /// was read (put back from the trash if it got there): the user's, for the caller to keep.
    /// </summary>
    public bool TryRemove(SyncAction a)
    {
        var full = ctx.FullPath(a.Path);
        var read = a.Fingerprint!;
        if (!FileHasher.IsAsScanned(full, read.Size, read.MtimeTicks, read.ChangeTimeNs)) // its ctime too: read long before (the plan, the hashing)
        {
            return false;
        }

        ctx.Step?.Invoke($"before deleting the leftover {a.Path}");
        string? changedAt;
        try
        {
            changedAt = LocalTrash.TryMoveIn(full, LocalTrash.DayFolder(ctx.State.StateDirectory, ctx.Time.GetUtcNow()), a.SameAs!, new FileStamp(read.Size, read.MtimeTicks), step: null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            ctx.Progress.Log($"a hidden leftover, '{SyncPaths.Display(a.Path)}', the same as '{SyncPaths.Display(a.SameAs)}' on the server, could not be moved to the trash ({e.Message}); tried again next pass");
            return true;
        }

        if (changedAt is null)
        {
            ctx.Progress.Log($"moved a hidden leftover, '{SyncPaths.Display(a.Path)}', to the trash: the same bytes as '{SyncPaths.Display(a.SameAs)}' on the server");
            return true;
        }

        // Written since it was read: back from the trash first, where a file system without hard links had it renamed
        // there (a rename on that one file system).
        if (changedAt != full)
        {
            try
            {
                File.Move(changedAt, full);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Its folder renamed or gone meanwhile: the file stays in the trash, and the user is told where.
                var note = $"a file of yours, a hidden leftover '{SyncPaths.Display(a.Path)}', changed while it was moved to the trash and could not be put back ({e.Message}); it is at '{changedAt}'";
                summary.AddNote(note);
                ctx.Progress.Log(note);
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Moves the leftover of <paramref name="a"/> to the conflicted-copy name of the file it displaced (<see cref="ConflictNames"/>;
    /// <see cref="FallbackName"/> where its name is unknown, or the copy's name is one the server refuses or the file
    /// system cannot hold), never over anything (<see cref="FileRename.MoveNewElseMove"/>; a name taken at the moment of
    /// the move: the next). It stays in its own folder, the folder of the file it displaced, wherever that is now. Returns
    /// the copy to send; null when it stays hidden (said so; the next pass tries again) or the copy is ignored here (said so).
    /// </summary>
    public string? Keep(SyncAction a)
    {
        var holding = a.Path;
        var fallback = SyncPaths.Parent(holding) is { Length: > 0 } parent ? parent + "/" + FallbackName : FallbackName;
        var beside = a.Original ?? fallback;
        string? kept = null;
        try
        {
            for (var attempt = 0; attempt < MaxDisplacedMoves && kept is null; attempt++)
            {
                var copy = conflictName(beside);
                if (beside != fallback && !Dropbox.Shared.Paths.PathRules.TryNormalize(copy, out _, out _))
                {
                    beside = fallback; // a name the server refuses (too long with the marker, say): one it takes
                    continue;
                }

                RenameOutcome outcome;
                try
                {
                    BeforeMove?.Invoke(ctx.FullPath(copy));
                    outcome = FileRename.MoveNewElseMove(ctx.FullPath(holding), ctx.FullPath(copy));
                }
                catch (IOException e) when (beside != fallback && (e.HResult == NameTooLongErrno || e is PathTooLongException))
                {
                    beside = fallback; // the carried name and the marker past the file system's limit: the short name
                    continue;
                }

                // Not done: the name appeared since it was looked at (the executor never gives it again): the next.
                kept = outcome == RenameOutcome.Done ? copy : null;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            summary.AddNote($"a file of yours taken aside (by a download or a delete) before the client stopped is still at '{SyncPaths.Display(holding)}' (hidden) and could not be kept as a conflicted copy ({e.Message}); tried again next pass");
            return null;
        }

        if (kept is null)
        {
            summary.AddNote($"a file of yours taken aside (by a download or a delete) before the client stopped is still at '{SyncPaths.Display(holding)}' (hidden): every conflicted-copy name tried was taken; tried again next pass");
            return null;
        }

        summary.AddConflict();
        var from = SyncPaths.Display(a.Original ?? SyncPaths.Parent(holding) + "/");
        var ignored = Ignore.IsIgnored(kept, isDirectory: false);
        // Visible now, but where the folder's .dropboxignore says this name is not synced: left here, not sent.
        var note = $"conflict: a file of yours taken aside (by a download or a delete) from '{from}' before the client stopped is kept as '{SyncPaths.Display(kept)}'"
            + (ignored ? " (ignored here, so not synced)" : string.Empty);
        summary.AddNote(note);
        ctx.Progress.Log(note);
        return ignored ? null : kept;
    }
}
