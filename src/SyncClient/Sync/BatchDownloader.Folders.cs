using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Sync;

/// <summary>The step between a batch's renames and its db write: the folders made durable, and still where the records say.</summary>
internal sealed partial class BatchDownloader
{
    /// <summary>
    /// Makes the folders of the placed files durable and returns the files that may be recorded; the others are reported
    /// and left in place unrecorded (the next pass finds them: a local file it does not know, and the remote one missing).
    /// A file renamed in an open folder (<see cref="StagedDownload.Folder"/>) needs that folder synced as opened, and
    /// every folder the batch made a folder in (<see cref="FolderHandles.MadeIn"/>) at or above it, then its folder still
    /// at its path (walked again, no link followed): a folder moved, or swapped for a link, since it was opened received
    /// the rename, so a record of the path would name a file that is not there. A folder that fails fails only the files
    /// in it (and below, for a new folder's parent). A file renamed by path (no open folder) has its folder and the
    /// parents of its new folders synced by path, as before: any failure fails all of those.
    /// </summary>
    private async Task<List<(StagedDownload Staged, PlacedDownload Placed)>> DurableAsync(List<(StagedDownload Staged, PlacedDownload Placed)> placed, FolderHandles? folders)
    {
        var recordable = new List<(StagedDownload Staged, PlacedDownload Placed)>(placed.Count);
        var byPath = placed.Where(p => p.Staged.Folder is null || folders is null).ToList();
        if (byPath.Count > 0)
        {
            try
            {
                // With the folders that hold new folders' entries: a recorded file never vanishes with its new folder.
                var directories = byPath.SelectMany(p => p.Staged.NewFolderParents is { } parents ? parents.Prepend(p.Staged.Directory) : [p.Staged.Directory]).Distinct(StringComparer.Ordinal).ToList();
                await OffPoolAsync(() => _ctx.Barrier.FlushDirectories(directories)).ConfigureAwait(false);
                recordable.AddRange(byPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // In place but not known durable: not recorded; the next pass finds them and compares them with the remote.
                foreach (var (s, _) in byPath)
                {
                    Fail(s.Path, e);
                }
            }
        }

        var byHandle = placed.Where(p => p.Staged.Folder is not null && folders is not null).ToList();
        if (byHandle.Count == 0)
        {
            return recordable;
        }

        var own = new Dictionary<string, FolderHandle>(StringComparer.Ordinal);
        foreach (var (s, _) in byHandle)
        {
            _ = own.TryAdd(SyncPaths.Parent(s.Path), s.Folder!);
        }

        var made = folders!.MadeIn.ToList();
        var all = own.Values.Concat(made.Select(m => m.Value)).ToList();
        IReadOnlyList<Exception?> failures;
        Dictionary<string, bool> stillThere;
        try
        {
            (failures, stillThere) = await OffPoolAsync(() =>
            {
                var failed = _ctx.Barrier.FlushFolders(all);
                var there = new Dictionary<string, bool>(StringComparer.Ordinal);
                var k = 0;
                foreach (var (relative, folder) in own)
                {
                    // Only a folder synced is looked for (the check is what lets its files be recorded).
                    there[relative] = failed[k++] is null && IsStillAt(folders, relative, folder);
                }

                return (failed, there);
            }).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            foreach (var (s, _) in byHandle)
            {
                Fail(s.Path, e);
            }

            return recordable;
        }

        var ownFailures = new Dictionary<string, Exception?>(StringComparer.Ordinal);
        var index = 0;
        foreach (var relative in own.Keys)
        {
            ownFailures[relative] = failures[index++];
        }

        var madeFailures = made.Select((m, i) => (Relative: m.Key, Failure: failures[own.Count + i])).Where(m => m.Failure is not null).ToList();
        foreach (var p in byHandle)
        {
            var relative = SyncPaths.Parent(p.Staged.Path);
            var failure = ownFailures[relative] ?? madeFailures.FirstOrDefault(m => IsAtOrUnder(relative, m.Relative)).Failure;
            if (failure is not null)
            {
                Fail(p.Staged.Path, failure);
            }
            else if (!stillThere[relative])
            {
                Fail(p.Staged.Path, new IOException($"'{SyncPaths.Display(p.Staged.Path)}' was put in its folder, but that folder is no longer at '{SyncPaths.Display(relative)}' (moved, or replaced by a link, meanwhile): not recorded; the next pass looks at it again."));
            }
            else
            {
                recordable.Add(p);
            }
        }

        return recordable;
    }

    /// <summary><see cref="FolderHandles.IsStillAt"/>, false when the path cannot be walked at all.</summary>
    private static bool IsStillAt(FolderHandles folders, string relative, FolderHandle folder)
    {
        try
        {
            return folders.IsStillAt(relative, folder);
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>True when the folder <paramref name="relative"/> is <paramref name="above"/> or inside it (every folder is inside the sync folder, "").</summary>
    private static bool IsAtOrUnder(string relative, string above) => above.Length == 0 || SyncPaths.IsAtOrUnderRelative(relative, above);
}
