using Dropbox.Shared.IO;
using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// A download replacing a synced file: moved to a conflicted-copy name, exchanged with the file at the name, the file
/// displaced looked at where it then is; undone where a folder was swapped in.
/// </summary>
internal sealed partial class DownloadPlacer
{
    /// <summary>
    /// Replaces the local file the checks found as the plan saw it. The temp file first goes to a new conflicted-copy name
    /// (checked by <see cref="SyncContext.WritePath"/>: a name the folder cannot hold fails before anything moves), then
    /// is exchanged with the file at the name: the displaced file then sits, visible, at the conflicted-copy name and is
    /// looked at there: exactly what the plan saw, it is deleted; otherwise it stays there, reported as a conflict
    /// (returned) and uploaded like any conflicted copy. A kill or a failure at any point leaves at worst a visible
    /// conflicted copy, never a user's byte under a hidden name. A folder swapped in is put back (see <see cref="PutBack"/>).
    /// Two renames, as many as the exchange and the hidden holding move this replaced.
    /// </summary>
    private async Task<string?> ExchangeIntoPlaceAsync(StagedDownload staged, CancellationToken ct)
    {
        var conflictCopy = _conflictName(staged.Path);
        var aside = _ctx.WritePath(conflictCopy);
        switch (FileRename.MoveNew(staged.Temp, aside))
        {
            case RenameOutcome.NotSupported:
                FileRename.Replace(staged.Temp, staged.Full); // checked just now, as before renameat2
                staged.Placed = true;
                return null;
            case RenameOutcome.DestinationExists:
                // Taken since it was chosen: nothing moved, the download is left for the next pass (its temp file deleted).
                throw new IOException($"Could not replace '{staged.Path}': '{conflictCopy}' appeared while the download was put in place; it is tried again next pass.");
            default:
                break;
        }

        // The download is at the conflicted-copy name now (a kill here leaves a visible copy of the server's version).
        _ctx.Step?.Invoke($"download of {staged.Path} at {conflictCopy}, before the exchange");
        RenameOutcome exchanged;
        try
        {
            exchanged = FileRename.Exchange(aside, staged.Full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Unstage(staged, aside, conflictCopy);
            throw;
        }

        switch (exchanged)
        {
            case RenameOutcome.NotSupported:
                FileRename.Replace(aside, staged.Full); // checked just now, as before renameat2
                staged.Placed = true;
                return null;
            case RenameOutcome.DestinationMissing:
                // Removed meanwhile: the name is expected empty (the download back under its temp name for that move).
                Unstage(staged, aside, conflictCopy);
                return File.Exists(staged.Temp) ? MoveIntoPlace(staged, checkedJustNow: true) : throw new IOException($"Could not place '{staged.Path}': the download was moved away while it was put in place.");
            default:
                break;
        }

        // From here the name holds the download and the conflicted-copy name what was at the name.
        staged.Placed = true;
        _ctx.Step?.Invoke($"download of {staged.Path} exchanged, the displaced file at {conflictCopy}");
        if (BeforeDisplacedCheck is { } beforeCheck)
        {
            await beforeCheck(staged).ConfigureAwait(false);
        }

        var displaced = new FileInfo(aside);
        if (IsFolder(displaced))
        {
            PutBack(staged, aside, conflictCopy);
            throw FolderHere(staged.Path);
        }

        bool changed;
        try
        {
            if (!displaced.Exists)
            {
                return null; // removed at once: nothing of the user's to keep
            }

            changed = (staged.CheckedInode is { } checkedInode && FileChangeTime.TryStat(aside)?.Inode is { } inode && inode != checkedInode)
                || await LocalChangedSincePlanAsync(displaced, staged.ExpectedLocal, staged.RacyBaseHash, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            changed = true; // not known unchanged (a read error, a cancelled re-read): kept
        }

        if (!changed)
        {
            try
            {
                File.Delete(aside); // the synced version the plan replaces
                _ctx.Step?.Invoke($"displaced {conflictCopy} deleted");
                return null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Could not be deleted: it stays, visible, as a conflicted copy (the synced version: a duplicate at worst).
            }
        }

        ReportConflict(staged.Path, conflictCopy);
        return conflictCopy;
    }

    /// <summary>
    /// After a failed exchange: the download, at <paramref name="aside"/> (the conflicted-copy name), back under its temp
    /// name for the caller to delete, if it is still the download there; anything else is left where it is, visible.
    /// </summary>
    private void Unstage(StagedDownload staged, string aside, string conflictCopy)
    {
        try
        {
            if (IsTheDownload(aside, staged) && FileRename.MoveNew(aside, staged.Temp) is RenameOutcome.Done or RenameOutcome.DestinationExists)
            {
                return; // DestinationExists: not possible for a name of 32 random digits; the download stays visible then
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left at the conflicted-copy name: said below.
        }

        if (File.Exists(aside))
        {
            _ctx.Progress.Log($"'{SyncPaths.Display(staged.Path)}': the download could not be put in place; what is at '{conflictCopy}' is left there");
        }
    }

    /// <summary>
    /// Undoes the exchange after a folder was found swapped in: the folder, at <paramref name="aside"/>, back at its name.
    /// What that swaps out is deleted only if it is the download (its inode and stamp); a file saved at the name
    /// meanwhile stays, visible, at the conflicted-copy name, and is reported. Where the name is empty (the download
    /// deleted meanwhile), the folder is moved back, never over anything.
    /// </summary>
    private void PutBack(StagedDownload staged, string aside, string conflictCopy)
    {
        for (var attempt = 0; ; attempt++)
        {
            var outcome = FileRename.Exchange(aside, staged.Full);
            if (outcome == RenameOutcome.Done)
            {
                break;
            }

            // The download removed from the name meanwhile: left at the conflicted-copy name, the folder would look like
            // a file's copy and its files would sync under that name.
            if (outcome == RenameOutcome.DestinationMissing)
            {
                var moved = FileRename.MoveNew(aside, staged.Full);
                if (moved == RenameOutcome.Done)
                {
                    staged.Placed = false;
                    return;
                }

                if (moved == RenameOutcome.DestinationExists && attempt == 0)
                {
                    continue; // something saved at the name right then: exchanged with it, and looked at as below
                }
            }

            throw new IOException($"Could not put '{staged.Full}' back after a failed download: it is at '{aside}'; move it back by hand.");
        }

        staged.Placed = false;
        if (!IsTheDownload(aside, staged))
        {
            if (Path.Exists(aside))
            {
                ReportConflict(staged.Path, conflictCopy);
            }

            return;
        }

        try
        {
            File.Delete(aside); // the download's bytes, swapped out again
        }
        catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
        {
            _ctx.Progress.Log($"'{SyncPaths.Display(staged.Path)}': a copy of the server's version is left at '{conflictCopy}'");
        }
    }

    /// <summary>True when the file at <paramref name="full"/> is the download's own (its inode where known, and its size and mtime).</summary>
    private static bool IsTheDownload(string full, StagedDownload staged)
    {
        if (FileChangeTime.TryStat(full) is { } stat)
        {
            return stat.IsRegularFile && staged.Written is { } w && stat.IsFileAs(w.Size, w.MtimeTicks)
                && (staged.Inode is not { } mine || stat.Inode == mine);
        }

        var info = new FileInfo(full);
        return info.Exists && !IsFolder(info) && staged.Written is { } written && FileStamp.Of(info) == written;
    }
}
