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

    /// <summary>The trash's folder for files deleted on the day of <paramref name="now"/> (UTC).</summary>
    public static string DayFolder(string stateDirectory, DateTimeOffset now) => Path.Combine(stateDirectory, "trash", now.ToString("yyyyMMdd"));

    /// <summary>
    /// Moves the held file into the day's trash folder <paramref name="day"/>, at its relative path <paramref name="path"/>
    /// (with a random suffix where that name is taken; under a new random folder of the day where the path cannot be made:
    /// a file of the day's trash in the way of a folder it needs, <c>x</c> deleted and then <c>x/y.txt</c>), and checks it
    /// is still <paramref name="synced"/> after the move: null when it is (deleted: in the trash), else the path it is at
    /// now (the held name, or its place in the trash) for the caller to put back.
    /// <para>On one file system a rename, checked after it: a write up to the check is put back; one through a handle
    /// after it lands in the trash file, kept. Across file systems a copy, checked through the handle the copy read
    /// with; the held file is unlinked only after that check, and the handle is looked at once more after the unlink: a
    /// write in between is copied into the trash too. <paramref name="step"/> (tests) runs with "after copying" right after
    /// such a copy and "before deleting the held file" right before the unlink.</para>
    /// </summary>
    public static string? TryMoveIn(string holding, string day, string path, FileStamp synced, Action<string>? step)
    {
        var relative = SyncPaths.ToFull(string.Empty, path);
        var trash = Path.Combine(day, relative);
        if (File.Exists(trash))
        {
            trash += "." + Guid.NewGuid().ToString("N")[..8];
        }

        try
        {
            return MoveIn(holding, trash, synced, step);
        }
        catch (IOException) when (File.Exists(holding))
        {
            // The path cannot be made (or a folder took its name): elsewhere in the day's trash. A full or read-only
            // disk fails there too, and that error is the caller's.
            return MoveIn(holding, Path.Combine(day, "~" + Guid.NewGuid().ToString("N")[..8], relative), synced, step);
        }
    }

    private static string? MoveIn(string holding, string trash, FileStamp synced, Action<string>? step)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(trash)!);
        try
        {
            if (FileRename.MoveNewElseMove(holding, trash) != RenameOutcome.Done)
            {
                trash += "." + Guid.NewGuid().ToString("N")[..8]; // taken meanwhile in the trash: another name there
                if (FileRename.MoveNewElseMove(holding, trash) != RenameOutcome.Done)
                {
                    throw new IOException($"could not move '{holding}' into the trash: a file is already at the new random name '{trash}'");
                }
            }
        }
        catch (IOException e) when (e.HResult == CrossDeviceErrno)
        {
            return CopyIn(holding, trash, synced, step);
        }

        // The rename keeps size and mtime: a write up to it shows here, and the file goes back.
        return FileStamp.Of(new FileInfo(trash)) == synced ? null : trash;
    }

    private static string? CopyIn(string holding, string trash, FileStamp synced, Action<string>? step)
    {
        using var source = new FileStream(holding, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16, FileOptions.SequentialScan);
        var copy = new FileStream(trash, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        try
        {
            using (copy)
            {
                source.CopyTo(copy);
            }

            step?.Invoke("after copying");
            if (StampOf(source) != synced)
            {
                File.Delete(trash); // written during the copy: the held file is the user's, the copy is not
                return holding;
            }

            var copied = StampOf(source);
            step?.Invoke("before deleting the held file");
            File.Delete(holding);
            if (StampOf(source) != copied)
            {
                // Written between the look and the unlink, through a handle: that write is in the trash too, as it would
                // be after a rename on one file system (the handle still reads the unlinked file).
                using var again = new FileStream(trash, FileMode.Truncate, FileAccess.Write, FileShare.None, 1 << 16);
                source.Position = 0;
                source.CopyTo(again);
            }

            return null;
        }
        catch when (File.Exists(holding))
        {
            TryDelete(trash); // the copy this call created (CreateNew above), partial; the held file is still whole
            throw;
        }
    }

    private static FileStamp StampOf(FileStream file) =>
        new(RandomAccess.GetLength(file.SafeFileHandle), File.GetLastWriteTimeUtc(file.SafeFileHandle).Ticks);

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
