using Dropbox.Shared.IO;
using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The trash under the state directory, where a remote delete applied here puts the file. The file is first taken off
/// its name by a rename beside it (<see cref="TakeAside"/>: one step on its own file system, whatever file system the
/// trash is on); the caller then checks what the rename took, and only a file still as synced goes on to the trash
/// (<see cref="TryMoveIn"/>). A client killed in between leaves a hidden holding file that the next pass keeps as a
/// conflicted copy, or removes where it holds the synced bytes (<see cref="DisplacedFiles"/>).
/// </summary>
internal static class LocalTrash
{
    /// <summary>EXDEV (Linux), a failed rename's <see cref="IOException.HResult"/>: the trash is on another file system.</summary>
    private const int CrossDeviceErrno = 18;

    /// <summary>
    /// Renames <paramref name="full"/> to a new hidden holding name in its own folder and returns that name's full path. A
    /// process writing to the file through a handle it holds keeps writing to the held file, so a check of the held file
    /// after this sees every write up to it.
    /// </summary>
    public static string TakeAside(string full)
    {
        var holding = Path.Combine(Path.GetDirectoryName(full)!, TempName.NewDisplaced(Path.GetFileName(full)));
        if (FileRename.MoveNewElseMove(full, holding) != RenameOutcome.Done)
        {
            throw new IOException($"could not take '{full}' aside: a file is already at the new random name '{holding}'");
        }

        return holding;
    }

    /// <summary>
    /// The path in the trash for a file deleted at <paramref name="path"/> (relative) now: the day's folder, the file's
    /// own relative path, and a random suffix where that name is taken.
    /// </summary>
    public static string PathFor(string stateDirectory, string path, DateTimeOffset now)
    {
        var trash = Path.Combine(stateDirectory, "trash", now.ToString("yyyyMMdd"), SyncPaths.ToFull(string.Empty, path));
        return File.Exists(trash) ? trash + "." + Guid.NewGuid().ToString("N")[..8] : trash;
    }

    /// <summary>
    /// Moves the held file into the trash at <paramref name="trash"/>, unless it is no longer <paramref name="synced"/>:
    /// false then, and the held file is where it was, for the caller to put back. On one file system a rename (a write
    /// through a handle after it lands in the trash file, kept). Across file systems a copy, after which the held file's
    /// stamp is read through the handle the copy read it with: a write during the copy changed it, and the copy is removed
    /// instead of the held file. <paramref name="step"/> (tests) runs right after such a copy.
    /// </summary>
    public static bool TryMoveIn(string holding, string trash, FileStamp synced, Action? step)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(trash)!);
        try
        {
            if (FileRename.MoveNewElseMove(holding, trash) == RenameOutcome.Done)
            {
                return true;
            }

            trash += "." + Guid.NewGuid().ToString("N")[..8]; // taken meanwhile in the trash: another name there
            if (FileRename.MoveNewElseMove(holding, trash) == RenameOutcome.Done)
            {
                return true;
            }

            throw new IOException($"could not move '{holding}' into the trash: a file is already at the new random name '{trash}'");
        }
        catch (IOException e) when (e.HResult == CrossDeviceErrno)
        {
            return CopyIn(holding, trash, synced, step);
        }
    }

    private static bool CopyIn(string holding, string trash, FileStamp synced, Action? step)
    {
        using (var source = new FileStream(holding, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16, FileOptions.SequentialScan))
        {
            var copy = new FileStream(trash, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
            try
            {
                using (copy)
                {
                    source.CopyTo(copy);
                }

                step?.Invoke();
                var now = new FileStamp(RandomAccess.GetLength(source.SafeFileHandle), File.GetLastWriteTimeUtc(source.SafeFileHandle).Ticks);
                if (now != synced)
                {
                    File.Delete(trash); // written during the copy: the held file is the user's, the copy is not
                    return false;
                }
            }
            catch
            {
                TryDelete(trash); // the copy this call created (CreateNew above), partial
                throw;
            }
        }

        File.Delete(holding);
        return true;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // the copy's own partial file: the trash keeps it, nothing of the folder's is lost
        }
    }
}
